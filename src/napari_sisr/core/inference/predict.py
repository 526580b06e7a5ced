"""Tiled, dask-chunked super-resolution of images of any size.

:func:`predict` returns a lazy dask array (or writes an OME-Zarr / TIFF and returns it);
:func:`iter_predict` is the same job as a generator that yields :class:`Progress` per block of
tiles, can be cancelled between tiles, and resumes interrupted OME-Zarr output.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..progress import Cancelled, PredictProgress, StopLike, Timer, as_stop, run_to_end
from .calibration import calibration_inputs
from .config import DEFAULT_TILE, PredictConfig
from .domain import domain_warning, image_statistics
from .engines import pick_engine, pick_precision
from .graph import JobSpec, build_graph, calibration_batches
from .input import SRInput, canonical_input
from .intensity import intensity_stats, strided_sample
from .planes import PlaneTally
from .runner import ModelInfo, ModelRunner, model_info, resolve_model
from .steering import is_degradation_aware, resolve_steering
from .tiling import TilePlan, make_plan

log = logging.getLogger(__name__)


@dataclass
class PreparedJob:
    """Everything decided before computing: input, model, plan, statistics and the graph."""

    inp: SRInput
    info: ModelInfo
    runner: ModelRunner
    spec: JobSpec
    plan: TilePlan
    batch: int
    blend: bool
    internal: Any  # dask array, internal layout
    order: list
    warnings: list[str] = field(default_factory=list)
    ngff: str = "0.4"  # OME-Zarr version of a folder output
    #: what the user should read before the result (the degradation a model was told)
    notes: list[str] = field(default_factory=list)
    #: how a degradation-aware model was steered (None for the others)
    steered: Any = None

    @property
    def lazy(self):
        """The result as a lazy dask array in the input's layout."""
        return self.inp.layout.to_user(self.internal)

    @property
    def total_tiles(self) -> int:
        return sum(len(b.tiles) for _, b in self.order)

    def out_axes_scale(self) -> tuple[list[float], list[float], dict[str, str]]:
        """Physical pixel size and offset per user axis of the output, and units."""
        s, axes = self.spec.scale, self.inp.axes or ""
        scale, trans = [], []
        for a in axes:
            p = float(self.inp.pixel_size.get(a, 1.0))
            t = float(self.inp.translate.get(a, 0.0))
            if a in "yx":
                scale.append(p / s)
                trans.append(t + p * (1 - s) / (2 * s))
            else:
                scale.append(1.0 if a == "c" else p)
                trans.append(0.0 if a == "c" else t)
        return scale, trans, dict(self.inp.units)

    def job_key(self) -> dict[str, Any]:
        """What identifies this job for resuming an interrupted output."""
        lo_hi = None
        if self.spec.stats is not None:
            lo_hi = [np.round(v, 9).tolist() for v in self.spec.stats]
        return {
            "input": {"shape": list(self.lazy.shape), "dtype": str(self.inp.dtype)},
            "model": {
                "name": self.info.name,
                "scale": self.info.scale,
                "hash": _weights_hash(self.runner.net),
            },
            "tile": list(self.plan.tile),
            "halo": self.plan.halo,
            "batch": self.batch,
            "blend": self.blend,
            "stats": lo_hi,
            "dtype": str(self.spec.out_dtype),
            "precision": self.runner.precision,
            "engine": self.runner.engine_name,
            # only when on: outputs begun before the option existed still resume
            **({"ensemble": True} if self.runner.ensemble else {}),
        }


def _weights_hash(net) -> str:
    import hashlib

    h = hashlib.sha1()
    for k, v in net.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _steer(net, c, info, inp, stats, notes: list, warnings: list):
    """A degradation-aware model told the image's degradation (a steered copy, and how it was
    steered; the note and warnings added to the job's); other models as they are."""
    if not is_degradation_aware(net):
        return net, None
    steered = resolve_steering(c.degradation, net, info.meta, inp, stats)
    notes.append(steered.note)
    log.info(steered.note)
    for warning in steered.warnings:
        log.warning(warning, extra={"job_warning": True})
    warnings += steered.warnings
    return net.with_condition(steered.condition), steered


def prepare(image, model, config: PredictConfig | None = None, **options) -> PreparedJob:
    """Validate the settings and build the job's lazy graph (see :func:`predict`).

    ``options`` are :class:`PredictConfig` fields, laid over ``config``.
    """
    c = PredictConfig.build(config, **options)
    net, meta = resolve_model(model, c.scale)
    info = model_info(net, meta, c.scale)
    if c.degradation is not None and not is_degradation_aware(net):
        raise InputError(
            f"model {info.name!r} is not degradation-aware: a degradation (fit JSON, sigma, "
            "noise, optics) steers only models that take one (architecture srresnet_da); "
            "leave it out for this model"
        )
    inp = canonical_input(
        image,
        rgb=c.rgb,
        channel_axis=c.channel_axis,
        axes=c.axes,
        level=c.level,
        pixel_size=c.pixel_size,
    )
    joint = _joint_channels(info, inp)
    h, w = inp.plane_shape
    if min(h, w) < info.min_size:
        raise InputError(
            f"image planes are {h}x{w} px, smaller than the model's minimum of {info.min_size} px"
        )
    halo_px, blend = _halo_and_blend(c, info)
    out_dtype = np.dtype(c.dtype) if c.dtype else _out_dtype(inp.dtype)
    stats, sample = _stats(inp, info, c.normalization, c.intensity_range, joint)
    warnings = _domain_warnings(info, sample)
    notes = []
    net, steered = _steer(net, c, info, inp, stats, notes, warnings)
    runner = _runner(net, c, info, halo_px)
    plan = make_plan((h, w), c.tile, halo_px, info.scale)
    spec = JobSpec(info.scale, joint, stats, out_dtype, plan.window)
    if runner.precision == "int8":  # a fixed set of real images, unless not normalised
        norm = {**info.normalization, **(c.normalization or {})}
        if c.intensity_range is None and norm.get("mode", "percentile") == "percentile":
            runner.calibration = calibration_inputs(info.in_channels, info.scale, norm)
        else:
            runner.calibration = calibration_batches(inp.data, plan, spec)
    internal, order = build_graph(inp.data, runner, spec, plan, c.batch, blend)
    return PreparedJob(
        inp=inp,
        info=info,
        runner=runner,
        spec=spec,
        plan=plan,
        batch=c.batch,
        blend=bool(blend),
        internal=internal,
        order=order,
        warnings=warnings,
        ngff=c.ngff,
        notes=notes,
        steered=steered,
    )


def _joint_channels(info: ModelInfo, inp: SRInput) -> bool:
    """Whether the model takes the image's channels together (else one at a time)."""
    n_ch = inp.data.shape[-1]
    if info.in_channels == 1:
        return False
    if info.in_channels == n_ch:
        return True
    has = "one channel" if n_ch == 1 else f"{n_ch} channels"
    hint = " (RGBA? drop the alpha channel: image[..., :3])" if n_ch == 4 else ""
    raise InputError(
        f"model {info.name!r} expects {info.in_channels}-channel input but the image has "
        f"{has}{hint}"
    )


def _halo_and_blend(c: PredictConfig, info: ModelInfo) -> tuple[int, bool]:
    """The halo in LR px (``"auto"``: the receptive field) and whether tiles are blended
    (by default only where the receptive field is unknown)."""
    rf = info.receptive_field
    blend = rf is None if c.blend is None else c.blend
    if c.halo == "auto":
        return (rf if rf is not None else max(16, c.tile // 8)), blend
    halo_px = int(c.halo)
    if not blend and rf is not None and halo_px < rf:
        log.warning(
            "halo %d < receptive field %d: tiles will differ from an untiled run", halo_px, rf
        )
    return halo_px, blend


def _domain_warnings(info: ModelInfo, sample) -> list[str]:
    """A warning where the image's statistics lie far from the model's training images."""
    if sample is None:
        return []
    warning = domain_warning(info.meta.get("card") or {}, image_statistics(sample))
    if not warning:
        return []
    # logged for Python callers; front ends show PredictProgress.warnings themselves and drop
    # log records marked job_warning, so nobody reads it twice
    log.warning(warning, extra={"job_warning": True})
    return [warning]


def _runner(net, c: PredictConfig, info: ModelInfo, halo_px: int) -> ModelRunner:
    """The runner of the job's tiles on the engine and precision the settings pick."""
    engine = pick_engine(c.engine, c.device, exportable=_is_project_model(net))
    precision = pick_precision(c.precision, c.device, engine)
    return ModelRunner(
        net,
        info.scale,
        halo_px,
        c.device,
        precision,
        torch_threads=c.torch_threads,
        engine=engine,
        ensemble=c.ensemble,
    )


def _is_project_model(net) -> bool:
    """A generator of the architecture registry (its graph exports faithfully, tested), or a
    bioimage.io package whose own ONNX graph the engines run as it is."""
    from ..archs import ARCHS, SRGenerator

    if getattr(net, "onnx_graph", None) is not None:
        return True
    return isinstance(net, SRGenerator) and getattr(net, "arch", "") in ARCHS


def _out_dtype(in_dtype: np.dtype) -> np.dtype:
    """The input's dtype when it is numeric, else float32."""
    return np.dtype(in_dtype) if np.dtype(in_dtype).kind in "uif" else np.dtype(np.float32)


def _stats(inp: SRInput, info: ModelInfo, normalization, intensity_range, joint: bool):
    """The normalisation ``(low, high)`` (or ``None``) and the pixel sample it came from."""
    n_ch = inp.data.shape[-1]
    norm = {**info.normalization, **(normalization or {})}
    if intensity_range is not None:
        lo, hi = (float(v) for v in intensity_range)
        return (np.full(n_ch, lo), np.full(n_ch, hi)), None
    if norm.get("mode") == "none":
        return None, None
    sample = strided_sample(inp.data)
    per_channel = bool(norm.get("per_channel", not joint))
    return intensity_stats(sample, norm, per_channel=per_channel), sample


def predict(
    image,
    model,
    *,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    scheduler=None,
    progress=None,
    config: PredictConfig | None = None,
    **options,
):
    """Super-resolve an image in tiles, lazily.

    Parameters
    ----------
    image : array-like, napari layer, list of arrays or path
        Shape ``(..., Y, X)`` or ``(..., Y, X, C)`` for RGB; numpy, dask, zarr, a napari
        multiscale list (``level`` picks one), a layer, or a TIFF / PNG / zarr path. Leading
        axes (Z, T, C, ...) are processed plane by plane.
    model : nn.Module or str or path
        A project model (``load_model``), a model name or path, or any ``nn.Module`` mapping
        ``(N, C, y, x)`` to ``(N, C, s*y, s*x)`` with a ``scale`` attribute (or ``scale=``).
    out : path, optional
        Write the result to an OME-Zarr folder (``.zarr``: multiscale, physical pixel sizes,
        resumable) or a TIFF (``.tif``, in memory) and return it read back.
    overwrite : bool
        Replace an existing output (an interrupted run of the same job is resumed instead).
    scheduler : str or distributed.Client, optional
        Run on a dask cluster (scheduler address or client). Without ``out`` the lazy result
        is persisted there (a client made from an address stays open as the default client).
    progress : callable, optional
        Called with each :class:`~napari_sisr.core.progress.Progress` when ``out`` is given.
    config : PredictConfig, optional
        The job's settings; ``options`` are laid over it.
    **options
        Fields of :class:`~napari_sisr.core.inference.config.PredictConfig`: ``scale``,
        ``tile`` (LR px, default :data:`DEFAULT_TILE`), ``halo`` (LR px or ``"auto"``: the
        receptive field), ``batch`` (tiles per forward pass), ``device``, ``precision``,
        ``dtype`` (output dtype; default the input's), ``blend``, ``rgb``, ``channel_axis``,
        ``axes``, ``level``, ``pixel_size``, ``normalization``, ``intensity_range``,
        ``torch_threads``, ``num_workers``, ``degradation`` (a degradation-aware model's
        steering: a fit, its JSON path, ``{"sigma": .., "noise_std": ..}``, ``{"optics":
        {"na": .., "wavelength_nm": ..}}``; unset: estimated from the image), ``ensemble``
        (average the tile's eight orientations: 8x the compute). ``batch`` does
        not apply with ``blend`` (every tile is its own task there). Unknown names are refused.

    Returns
    -------
    dask.array.Array
        Shape ``(..., s*Y, s*X[, C])`` in the input's layout; with ``out``, read from there.
    """
    c = PredictConfig.build(config, **options)
    if out is None:
        if scheduler is None:
            return prepare(image, model, c).lazy
        from .execute import cluster_threads, get_client

        client, _ = get_client(scheduler)
        if c.torch_threads is None:
            c = c.model_copy(update={"torch_threads": cluster_threads(client)})
        return client.persist(prepare(image, model, c).lazy)
    gen = iter_predict(image, model, out=out, overwrite=overwrite, scheduler=scheduler, config=c)
    return run_to_end(gen, progress)


def iter_predict(
    image,
    model,
    *,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    scheduler=None,
    stop: StopLike = None,
    config: PredictConfig | None = None,
    **options,
):
    """:func:`predict` as a generator: yields :class:`PredictProgress` as tiles finish.

    ``num_workers`` (a :class:`PredictConfig` field) is the number of local dask threads
    (default 2: forward passes take turns using every core while the other thread reads and
    writes blocks); with ``scheduler`` the cluster's workers run the job. Returns a numpy
    array (``out=None``), or the written output read back as a dask array.
    Cancelling (``stop``) finishes the tiles already running, marks an OME-Zarr output as
    incomplete and raises :class:`Cancelled`; running the same job again resumes it. A result
    in memory keeps its first finished planes (frames, slices) in the exception's
    ``partial`` (a :class:`~napari_sisr.core.progress.Partial`).
    """
    from . import output

    c = PredictConfig.build(config, **options)
    stop_fn = as_stop(stop)
    client, own_client = None, False
    if scheduler is not None:
        from .execute import cluster_threads, get_client

        client, own_client = get_client(scheduler)
        if c.torch_threads is None:
            c = c.model_copy(update={"torch_threads": cluster_threads(client)})
    target = None
    if out is not None and isinstance(image, str | os.PathLike):
        from ..io.guard import check_not_input

        check_not_input(out, [image])
    try:
        job = prepare(image, model, c)
        job.runner.stop = stop_fn
        target = output.open_target(job, out, overwrite=overwrite, client=client)
        yield from _run_target(job, target, stop_fn, c.num_workers)
        return target.finish()
    finally:
        if target is not None:
            target.close()
        if own_client:
            client.close()


def _run_target(job: PreparedJob, target, stop_fn, num_workers: int):
    """Compute the blocks ``target`` does not hold yet, yielding :class:`PredictProgress` in
    tiles and planes; a cancelled in-memory result keeps its first finished planes."""
    total = job.total_tiles
    tiles = [len(b.tiles) for _, b in job.order]
    done_tiles = sum(tiles[i] for i in target.done)
    planes = PlaneTally(job.order)
    planes.add(target.done)
    timer = Timer()
    first = f"resuming: {done_tiles} tiles already done" if done_tiles else "super-resolving"
    yield _progress(done_tiles, total, first, planes, resumed=done_tiles, job=job)
    start = done_tiles
    running = target.run(stop_fn, num_workers)
    try:
        for finished in running:
            done_tiles += sum(tiles[i] for i in finished)
            planes.add(finished)
            eta = timer.eta(done_tiles - start, total - start)
            yield _progress(done_tiles, total, "super-resolving", planes, resumed=start, eta_s=eta)
    except Cancelled as stopped:
        stopped.partial = target.partial(planes.prefix())
        raise
    finally:
        running.close()  # on cancel or early close: mark the output incomplete, stop workers


def _progress(done, total, message, planes: PlaneTally, *, resumed, job=None, eta_s=None):
    """A :class:`PredictProgress` in tiles and planes (the first one carries the job's
    warnings and notes)."""
    return PredictProgress(
        done,
        total,
        message + planes.says(),
        eta_s=eta_s,
        resumed=resumed,
        warnings=tuple(job.warnings) if job else (),
        notes=tuple(job.notes) if job else (),
        planes_done=planes.complete,
        planes=planes.planes,
    )


__all__ = [
    "DEFAULT_TILE",
    "PredictConfig",
    "PreparedJob",
    "iter_predict",
    "predict",
    "prepare",
    "run_to_end",
]
