"""Progress updates and cooperative cancellation shared by every long job.

Long work is written as a generator that yields :class:`Progress` updates and *returns* its
result. :func:`run_to_end` drives such a generator to the end (the headless API); napari's
``thread_worker`` drives the same generator in a widget and can stop it at any ``yield``.
Core code never imports Qt: it takes a ``stop`` callable or ``threading.Event``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

StopLike = Callable[[], bool] | threading.Event | None


class Cancelled(RuntimeError):
    """Raised inside a job when its stop condition becomes true."""


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
    data : dict
        Job-specific extras (losses, metrics, preview arrays).
    """

    done: int
    total: int
    message: str = ""
    eta_s: float | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


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
