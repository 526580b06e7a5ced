"""Progress updates and cooperative cancellation shared by every long job.

Long work is written as a generator that yields :class:`Progress` updates (or a typed subclass
with the job's extras: :class:`TrainProgress`, :class:`PredictProgress`) and *returns* its
result. :func:`run_to_end` drives such a generator to the end (the headless API); napari's
``thread_worker`` drives the same generator in a widget and can stop it at any ``yield``.
Core code never imports Qt: it takes a ``stop`` callable or ``threading.Event``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

StopLike = Callable[[], bool] | threading.Event | None


class Cancelled(RuntimeError):
    """Raised inside a job when its stop condition becomes true.

    ``partial``: what the job finished and keeps (a :class:`Partial`), where it can keep any
    (the first planes of an in-memory super-resolution); ``None`` otherwise.
    """

    partial: Partial | None = None


@dataclass(frozen=True)
class Partial:
    """The finished part of a cancelled job: ``data`` holds the first ``planes`` of its ``of``
    planes along the result's axis ``axis`` (e.g. the first 12 frames of a 48-frame time-lapse),
    each complete."""

    data: Any
    planes: int
    of: int
    axis: int


@dataclass
class Progress:
    """A small progress update yielded by long-running jobs.

    Attributes
    ----------
    done, total : int
        Units of work finished and planned (tiles, steps, phases).
    message : str
        A short human-readable description of the current phase.
    eta_s : float, optional
        Estimated seconds to completion.
    """

    done: int
    total: int
    message: str = ""
    eta_s: float | None = None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


@dataclass
class Scores:
    """Validation scores of a model and of bicubic upsampling on the same held-out images.

    PSNR in dB and SSIM, both in the normalised intensity units of training (data range 1).
    """

    psnr: float
    ssim: float
    psnr_bicubic: float
    ssim_bicubic: float
    n_images: int = 0
    step: int = 0

    @property
    def gain_db(self) -> float:
        """PSNR gain of the model over bicubic (negative: worse than bicubic)."""
        return self.psnr - self.psnr_bicubic

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainProgress(Progress):
    """An update after one training step.

    Attributes
    ----------
    step : int
        Generator updates done.
    phase : {"content", "adversarial"}
        The phase the step belonged to.
    losses : dict
        Loss terms (``l_g_pix``, ``l_g_gan``, ``l_d``, ...) and discriminator outputs.
    lr : float
        Learning rate of the step.
    val : Scores, optional
        Set on the steps that validated.
    preview : numpy.ndarray, optional
        Set on the steps that made a preview: the SR of a validation crop, normalised units.
    steps_per_s : float
        Training speed so far.
    """

    step: int = 0
    phase: str = "content"
    losses: dict[str, float] = field(default_factory=dict)
    lr: float = 0.0
    val: Scores | None = None
    preview: Any = None
    steps_per_s: float = 0.0


@dataclass
class PredictProgress(Progress):
    """An update of a tiled super-resolution job (``done``/``total`` count tiles; ``planes_done``
    of ``planes`` count the frames or slices finished, for an image with more than one).

    ``resumed`` is the number of tiles an interrupted output already held when the job began;
    ``warnings`` (on the first update) what the user should know before trusting the result,
    e.g. an image unlike the model's training images; ``notes`` (on the first update) what
    the job chose for the user, e.g. the degradation a degradation-aware model was told.
    """

    resumed: int = 0
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    #: complete planes (frames, slices) of how many, where the image has more than one
    planes_done: int = 0
    planes: int = 0


def skip_job_warnings(record) -> bool:
    """A logging filter that drops the records a job marks ``job_warning`` (front ends show
    them from :attr:`PredictProgress.warnings` instead)."""
    return not getattr(record, "job_warning", False)


def as_stop(stop: StopLike) -> Callable[[], bool]:
    """Normalise ``None``, an Event or a callable into a callable returning bool."""
    if stop is None:
        return lambda: False
    if isinstance(stop, threading.Event):
        return stop.is_set
    return stop


def check_stop(stop: Callable[[], bool]) -> None:
    """Raise :class:`Cancelled` if ``stop()`` is true."""
    if stop():
        raise Cancelled("cancelled by the user")


class Timer:
    """Estimates the remaining time of a job from the rate so far."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def eta(self, done: int, total: int) -> float | None:
        if done <= 0:
            return None
        elapsed = time.perf_counter() - self.t0
        return elapsed / done * max(total - done, 0)


def run_to_end(
    gen: Generator[Progress, None, T], callback: Callable[[Progress], None] | None = None
) -> T:
    """Run a progress generator to completion and return its result.

    Parameters
    ----------
    gen : generator
        Yields :class:`Progress` and returns the result.
    callback : callable, optional
        Called with every update (e.g. to drive a progress bar).
    """
    while True:
        try:
            update = next(gen)
        except StopIteration as stop:
            return stop.value
        if callback is not None:
            callback(update)
