"""The Super-resolve job: what runs in the worker thread, separated from the widget.

:func:`prepare_tasks` snapshots the chosen layers on the GUI thread (data reference, geometry
and display settings), :func:`sr_job` is the generator the worker runs: it loads the model
through the widget's cache and drives :func:`~napari_sisr.core.inference.predict.iter_predict`
for each layer with the widget's :class:`~napari_sisr.core.inference.config.PredictConfig`,
yielding progress per tile and each finished layer's result (:class:`LayerDone`), so results
reach the GUI thread one by one while the viewer stays responsive.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...core.errors import InputError
from ...core.inference.config import PredictConfig
from ...core.progress import Cancelled, Partial, Progress, as_stop, check_stop
from .._layers import LayerSnapshot, level0
from .layers import sr_layer_kwargs

if TYPE_CHECKING:  # pragma: no cover
    import napari.layers

    from .._models import ModelCache

#: Progress units per layer.
UNITS = 1000
#: A result for a new layer may use at most this fraction of the memory available at start.
MEMORY_FRACTION = 0.5


@dataclass
class SRTask:
    """One layer to super-resolve, snapshotted on the GUI thread."""

    name: str
    source: LayerSnapshot  # what the worker reads: a layer look-alike
    src_dtype: np.dtype
    layer_kwargs: dict[str, Any]
    out: Path | None = None
    #: the source layer itself, for the GUI thread only (where its result goes); the worker
    #: reads ``source``
    layer: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class SRSettings:
    """Everything the worker needs besides the layers (validated before the job starts).

    ``model`` is a bundled name or a model JSON path, ``scale`` its upscaling factor (for the
    result layers' geometry) and ``config`` the inference settings, the same object the
    command line and :func:`napari_sisr.predict` use.
    """

    model: str
    scale: int
    config: PredictConfig
    overwrite: bool = False
    #: measure the evidence of each result (consistency map, resolution, uncertainty)
    evidence: bool = False


@dataclass
class Notice(Progress):
    """A warning about the current layer's job, for a notification (``message``)."""


@dataclass
class Note(Progress):
    """What the current layer's job chose for the user (``message``; e.g. its degradation)."""


@dataclass
class EvidenceDone(Progress):
    """The evidence of one layer's result: its z-score maps (the source's layout and grid)
    and the summaries (:func:`~napari_sisr.core.evidence.job.evidence_of_result`)."""

    index: int = 0
    z: Any = None
    summary: dict = field(default_factory=dict)


@dataclass
class LayerDone(Progress):
    """The update that closes one layer: its position in the task list and its result."""

    index: int = 0
    result: Any = None
    #: set where the job was cancelled and ``result`` holds only the planes it finished
    partial: Partial | None = None


def snapshot(layer: napari.layers.Image) -> LayerSnapshot:
    """What inference reads from a layer, detached from it (:class:`~.._layers.LayerSnapshot`):
    :func:`~napari_sisr.core.inference.input.canonical_input` takes it like a layer (RGB flag,
    multiscale levels, whose processed level gives the statistics, and the physical metadata of
    an OME-Zarr output)."""
    return LayerSnapshot.of(layer)


def output_paths(base: str | os.PathLike, names: Sequence[str]) -> list[Path]:
    """OME-Zarr path per layer: ``base`` itself for one layer, ``<stem>_<name>.zarr`` for more."""
    base = Path(base)
    if base.suffix != ".zarr":
        base = base.with_name(base.name + ".ome.zarr")
    if len(names) == 1:
        return [base]
    stem = base.name[: -len(".ome.zarr")] if base.name.endswith(".ome.zarr") else base.stem
    suffix = base.name[len(stem) :]
    safe = ["".join(c if c.isalnum() or c in "-_." else "_" for c in n) for n in names]
    return [base.with_name(f"{stem}_{n}{suffix}") for n in safe]


def prepare_tasks(
    layers: Sequence[napari.layers.Image], settings: SRSettings, out: str | None = None
) -> list[SRTask]:
    """Snapshot layers for the worker; raises :class:`InputError` for inputs that cannot work."""
    if not layers:
        raise InputError("no image layer chosen: select one or tick 'all image layers'")
    paths = output_paths(out, [lyr.name for lyr in layers]) if out else [None] * len(layers)
    tasks = []
    for layer, path in zip(layers, paths, strict=True):
        data = level0(layer)
        kwargs = sr_layer_kwargs(
            layer, settings.scale, data.dtype, meta={"model": settings.model}, model=settings.model
        )
        if path is None:
            check_fits_in_memory(layer.name, data.shape, data.dtype, settings.scale, layer.rgb)
        tasks.append(
            SRTask(layer.name, snapshot(layer), np.dtype(data.dtype), kwargs, path, layer=layer)
        )
    return tasks


def check_fits_in_memory(name: str, shape: Sequence[int], dtype, s: int, rgb: bool) -> None:
    """Refuse a new-layer result that would not fit comfortably in memory."""
    import psutil

    n_spatial_end = len(shape) - (1 if rgb else 0)
    out = np.array(shape, dtype=np.float64)
    out[n_spatial_end - 2 : n_spatial_end] *= s
    nbytes = float(np.prod(out)) * np.dtype(dtype).itemsize  # the result has the input's dtype
    budget = psutil.virtual_memory().available * MEMORY_FRACTION
    if nbytes > budget:
        raise InputError(
            f"the result of {name!r} would take {nbytes / 2**30:.1f} GiB, more than half the "
            f"free memory ({budget / 2**30:.1f} GiB): choose 'OME-Zarr file' as output"
        )


def sr_job(
    tasks: Sequence[SRTask], settings: SRSettings, cache: ModelCache, *, stop=None
) -> Generator[Progress, None, int]:
    """Super-resolve each task in turn; returns the number of finished layers.

    Progress counts :data:`UNITS` per layer. The update that closes a layer is a
    :class:`LayerDone` carrying its result, so the widget can show it before the next layer
    starts (and keep it if the job is then cancelled).
    """
    from ...core.devices import pick_device
    from ...core.inference.predict import iter_predict

    stop_fn = as_stop(stop)
    device = pick_device(settings.config.device)
    total = len(tasks) * UNITS
    for i, task in enumerate(tasks):
        check_stop(stop_fn)
        prefix = task.name if len(tasks) == 1 else f"{task.name} ({i + 1}/{len(tasks)})"
        first = not cache.holds(settings.model, device)
        if first:
            yield Progress(i * UNITS, total, f"{prefix}: loading the model")
        t0 = time.perf_counter()
        net = cache.get(settings.model, device)
        if first:  # what the first click waits for, in words
            loaded = time.perf_counter() - t0
            yield Progress(i * UNITS, total, _preparing(prefix, loaded, settings, device))
        gen = iter_predict(
            task.source,
            net,
            out=task.out,
            overwrite=settings.overwrite,
            stop=stop,
            config=settings.config,
        )
        while True:
            try:
                update = next(gen)
            except StopIteration as done:
                result = done.value
                break
            except Cancelled as stopped:
                if stopped.partial is not None:  # the planes finished before the cancel
                    kept = stopped.partial
                    message = f"{prefix}: cancelled"
                    yield LayerDone(
                        i * UNITS, total, message, index=i, result=kept.data, partial=kept
                    )
                raise
            for warning in getattr(update, "warnings", ()):
                yield Notice(i * UNITS, total, f"{task.name}: {warning}")
            for note in getattr(update, "notes", ()):
                yield Note(i * UNITS, total, note)
            frac = min(max(update.fraction, 0.0), 1.0)
            yield Progress(
                i * UNITS + int(frac * (UNITS - 1)),
                total,
                f"{prefix}: {update.message}",
                eta_s=update.eta_s,
            )
        yield LayerDone((i + 1) * UNITS, total, f"{prefix}: done", index=i, result=result)
        check_stop(stop_fn)
        if settings.evidence:
            yield Progress((i + 1) * UNITS, total, f"{prefix}: measuring the evidence")
            yield _evidence(i, task, result, net, settings, total)
    return len(tasks)


def _preparing(prefix: str, loaded_s: float, settings: SRSettings, device: str) -> str:
    """The first run's wait after loading: statistics, and the engine it compiles."""
    from ...core.inference.engines import pick_engine

    engine = pick_engine(settings.config.engine, device)
    compiles = "" if engine == "torch" else f", compiling the {engine} engine (first run only)"
    return f"{prefix}: model loaded in {loaded_s:.1f} s; reading the intensity statistics{compiles}"


def _evidence(i: int, task: SRTask, result, net, settings: SRSettings, total: int):
    """The evidence of one result (in the worker), as an :class:`EvidenceDone` update; where
    the capture cannot give any (too small to estimate its noise...), a :class:`Notice` that
    says why: the result itself stands."""
    from ...core.errors import InputError
    from ...core.evidence.job import evidence_of_result
    from ...core.inference.input import canonical_input

    result = result[0] if isinstance(result, list) else result
    try:
        summary = evidence_of_result(task.source, result, net, settings.scale, settings.config)
    except InputError as err:
        return Notice((i + 1) * UNITS, total, f"{task.name}: no evidence measured: {err}")
    z = canonical_input(task.source).layout.to_user(summary.pop("z"))
    return EvidenceDone(
        (i + 1) * UNITS, total, f"{task.name}: evidence", index=i, z=z, summary=summary
    )
