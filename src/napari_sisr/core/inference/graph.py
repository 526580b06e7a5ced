"""The dask graph of a tiled super-resolution job.

One task per output block (a batch of tiles of one row in one plane) takes the input chunks its
window overlaps, assembles the window, runs the network and crops every tile to its core. Its
output chunk shape is known in advance, so the graph is built with explicit ``chunks``, ``dtype``
and ``meta`` and dask never calls the network to guess them. With blending (networks with
global operations) tile outputs are separate tasks and each block averages the tiles that
overlap it. Store tasks (for OME-Zarr or an in-memory array) hang off the blocks.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from .intensity import denormalize, normalize
from .tiling import (
    Block,
    Tile,
    TilePlan,
    blend_sources,
    blend_weights,
    symmetric_indices,
    take_window,
)


@dataclass(frozen=True)
class JobSpec:
    """Per-job settings every block task needs (small: shipped with each task)."""

    scale: int
    joint: bool  # the network takes all C channels at once (else each channel separately)
    stats: tuple[np.ndarray, np.ndarray] | None
    out_dtype: np.dtype
    window: tuple[int, int]  # LR window shape of every tile


def _axis_pieces(bounds: list[int], start: int, stop: int) -> list[tuple[int, slice, slice]]:
    """(chunk index, slice in chunk, absolute range) covering ``[start, stop)`` on one axis."""
    out = []
    i = bisect.bisect_right(bounds, start) - 1
    while start < stop:
        end = min(stop, bounds[i + 1])
        out.append((i, slice(start - bounds[i], end - bounds[i]), slice(start, end)))
        start, i = end, i + 1
    return out


def window_pieces(chunks, request: list[tuple[int, int]]) -> list[tuple[tuple, tuple, tuple]]:
    """Chunk indices, in-chunk slices and in-window slices covering an N-D box request."""
    per_axis = []
    for c, (a, b) in zip(chunks, request, strict=True):
        bounds = [0, *itertools.accumulate(c)]
        pieces = _axis_pieces(bounds, a, b)
        per_axis.append([(i, s, slice(w.start - a, w.stop - a)) for i, s, w in pieces])
    return [
        (tuple(p[0] for p in combo), tuple(p[1] for p in combo), tuple(p[2] for p in combo))
        for combo in itertools.product(*per_axis)
    ]


def assemble(shape: tuple[int, ...], dtype, specs, *parts) -> np.ndarray:
    """Fill a window from chunk parts (task function)."""
    out = np.empty(shape, dtype=dtype)
    for (src, dst), part in zip(specs, parts, strict=True):
        out[dst] = np.asarray(part)[src]
    return out


def _check_window(window: np.ndarray, where: str) -> None:
    if window.dtype.kind == "f" and not np.isfinite(window).all():
        n = int((~np.isfinite(window)).sum())
        raise InputError(
            f"image contains {n} non-finite values (NaN or inf) in {where}; replace them first "
            "(e.g. numpy.nan_to_num)"
        )


def _net_input(spec: JobSpec, x: np.ndarray) -> np.ndarray:
    """``(n, ly, lx, C)`` normalised tiles -> network batch ``(N, c, ly, lx)``."""
    x = np.moveaxis(x, -1, 1)  # (n, C, ly, lx)
    if not spec.joint:
        x = x.reshape(-1, 1, *x.shape[-2:])
    return np.ascontiguousarray(x)


def _net_output(spec: JobSpec, y: np.ndarray, n: int) -> np.ndarray:
    """Network output ``(N, c, Y, X)`` -> ``(n, Y, X, C)``; an output that is not finite
    everywhere is refused (weights out of range, or intensities the network cannot take)."""
    if not np.isfinite(y).all():
        bad = int((~np.isfinite(y)).sum())
        raise InputError(
            f"the model's output holds {bad} non-finite values (NaN or inf): its weights are "
            "damaged or out of range for this image, so the job stopped"
        )
    y = y.reshape(n, -1, *y.shape[-2:])
    return np.moveaxis(y, 1, -1)


def calibration_batches(
    x, plan: TilePlan, spec: JobSpec, n: int = 8, side: int = 192
) -> list[np.ndarray]:
    """Up to ``n`` network input batches, spread over the first plane: what int8 quantisation
    is calibrated on (the job's own input, normalised as the tiles are). Each is the centre of
    a tile's window, at most ``side`` px plus the halo on each side: the activation statistics
    are those of full tiles, at a fraction of the cost (calibration runs the fp32 network)."""
    tiles = plan.tiles[:: max(1, len(plan.tiles) // n)][:n]
    lead = (0,) * (x.ndim - 3)
    out = []
    for t in tiles:
        window = np.moveaxis(take_window(np.moveaxis(x[lead], -1, 0), t.src), 0, -1)
        crop = side + 2 * plan.halo
        y0, x0 = (max(0, (window.shape[i] - crop) // 2) for i in (0, 1))
        window = window[y0 : y0 + crop, x0 : x0 + crop]
        out.append(_net_input(spec, normalize(window, spec.stats)[None]))
    return out


def run_block(runner, spec: JobSpec, block: Block, window: np.ndarray) -> np.ndarray:
    """Super-resolve one block from its LR window ``(Ly, Lx, C)`` -> ``(By*s, Bx*s, C)``."""
    _check_window(window, f"rows {block.src[0].start}-{block.src[0].stop}")
    x = normalize(window, spec.stats)
    x0 = block.src[1].start
    tiles = np.stack([x[:, t.src[1].start - x0 : t.src[1].stop - x0] for t in block.tiles])
    y = _net_output(spec, runner(_net_input(spec, tiles)), len(block.tiles))
    oy, ox = block.dst[0].start, block.dst[1].start
    out = np.empty(
        (block.dst[0].stop - oy, block.dst[1].stop - ox, window.shape[-1]), dtype=np.float32
    )
    for t, yt in zip(block.tiles, y, strict=True):
        dy = slice(t.dst[0].start - oy, t.dst[0].stop - oy)
        dx = slice(t.dst[1].start - ox, t.dst[1].stop - ox)
        out[dy, dx] = yt[t.crop]
    return denormalize(out, spec.stats, spec.out_dtype)


def run_tile_for_blend(runner, spec: JobSpec, plan: TilePlan, tile: Tile, window: np.ndarray):
    """One tile's whole normalised output, weighted, with its weights (blending mode)."""
    _check_window(window, f"rows {tile.src[0].start}-{tile.src[0].stop}")
    x = normalize(window, spec.stats)[None]
    y = _net_output(spec, runner(_net_input(spec, x)), 1)[0]
    w = blend_weights(plan, tile).astype(np.float32)
    return y * w[..., None], w


def blend_block(spec: JobSpec, dst, tiles: list[Tile], *parts) -> np.ndarray:
    """Weighted average of the tiles overlapping an output region (blending mode)."""
    s = spec.scale
    shape = (dst[0].stop - dst[0].start, dst[1].stop - dst[1].start)
    acc = np.zeros((*shape, parts[0][0].shape[-1]), np.float32)
    wsum = np.zeros(shape, np.float32)
    for t, (yw, w) in zip(tiles, parts, strict=True):
        y0, x0 = t.src[0].start * s, t.src[1].start * s
        a0, a1 = max(dst[0].start, y0), min(dst[0].stop, t.src[0].stop * s)
        b0, b1 = max(dst[1].start, x0), min(dst[1].stop, t.src[1].stop * s)
        o = (
            slice(a0 - dst[0].start, a1 - dst[0].start),
            slice(b0 - dst[1].start, b1 - dst[1].start),
        )
        i = (slice(a0 - y0, a1 - y0), slice(b0 - x0, b1 - x0))
        acc[o] += yw[i]
        wsum[o] += w[i]
    return denormalize(acc / wsum[..., None], spec.stats, spec.out_dtype)


def _mirrored(window: np.ndarray, index) -> np.ndarray:
    """A ``(Ly, Lx, C)`` window from the image pixels it needs: ``index`` holds, per axis,
    the positions in what was read (``None``: all of it, in order)."""
    iy, ix = index
    if iy is not None:
        window = window[iy]
    if ix is not None:
        window = window[:, ix]
    return window


def _graph_block(runner, spec, block, shape, dtype, specs, index, *parts):
    window = assemble(shape, dtype, specs, *parts)
    window = _mirrored(window.reshape(window.shape[-3:]), index)
    return run_block(runner, spec, block, window)[(None,) * (len(shape) - 3)]


def _graph_tile(runner, spec, plan, tile, shape, dtype, specs, index, *parts):
    window = assemble(shape, dtype, specs, *parts)
    window = _mirrored(window.reshape(window.shape[-3:]), index)
    return run_tile_for_blend(runner, spec, plan, tile, window)


def _graph_blend(spec, dst, tiles, nlead, *parts):
    return blend_block(spec, dst, tiles, *parts)[(None,) * nlead]


def _window_request(x, lead: tuple, src) -> tuple:
    """What a window of ``x`` reads: the image pixels it covers or mirrors (shape, in-chunk
    and in-window slices, chunk keys) and the positions of its pixels in what is read."""
    ranges, index = [], []
    for sl, n in zip(src, x.shape[-3:-1], strict=True):
        idx = symmetric_indices(sl.start, sl.stop, n)
        lo, hi = int(idx.min()), int(idx.max()) + 1
        ranges.append((lo, hi))
        inside = lo == sl.start and hi == sl.stop
        index.append(None if inside else idx - lo)
    request = [(i, i + 1) for i in lead] + ranges + [(0, x.shape[-1])]
    pieces = window_pieces(x.chunks, request)
    shape = tuple(b - a for a, b in request)
    specs = [(p[1], p[2]) for p in pieces]
    keys = [(x.name, *p[0]) for p in pieces]
    return shape, specs, tuple(index), keys


def _blend_tasks(dsk, name, runner_key, x, spec, plan, blocks, lead) -> None:
    """Tasks of one plane in blending mode: every tile's weighted output, then each block
    the weighted average of the tiles that overlap it."""
    tkeys = {}
    for t in plan.tiles:
        shape, specs, index, keys = _window_request(x, lead, t.src)
        k = (name + "-tile", *lead, *t.index)
        dsk[k] = (_graph_tile, runner_key, spec, plan, t, shape, x.dtype, specs, index, *keys)
        tkeys[t.index] = k
    for b in blocks:
        src_tiles = blend_sources(plan, b.dst)
        deps = [tkeys[t.index] for t in src_tiles]
        dsk[(name, *lead, *b.index, 0)] = (_graph_blend, spec, b.dst, src_tiles, x.ndim - 3, *deps)


def _block_tasks(dsk, name, runner_key, x, spec, blocks, lead) -> None:
    """Tasks of one plane: each block's window, through the network, cropped to its cores."""
    for b in blocks:
        shape, specs, index, keys = _window_request(x, lead, b.src)
        dsk[(name, *lead, *b.index, 0)] = (
            _graph_block,
            runner_key,
            spec,
            b,
            shape,
            x.dtype,
            specs,
            index,
            *keys,
        )


def build_graph(x, runner, spec: JobSpec, plan: TilePlan, batch: int, blend: bool):
    """Lazy internal-layout output ``(lead..., Y*s, X*s, C)`` of the job (a dask array).

    Returns the array and the list of ``(lead_index, Block)`` in key order.
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    name = "sisr-" + tokenize(x.name, id(runner), repr(spec), plan.tile, plan.halo, batch, blend)
    runner_key = ("sisr-model-" + name[5:],)
    blocks = plan.blocks(1 if blend else batch)
    dsk: dict[Any, Any] = {runner_key: runner}
    order = []
    for lead in np.ndindex(*x.shape[:-3]):
        if blend:
            _blend_tasks(dsk, name, runner_key, x, spec, plan, blocks, lead)
        else:
            _block_tasks(dsk, name, runner_key, x, spec, blocks, lead)
        order += [(lead, b) for b in blocks]
    ys, xs = plan.block_chunks(1 if blend else batch)
    chunks = tuple((1,) * n for n in x.shape[:-3]) + (ys, xs, (x.shape[-1],))
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x])
    meta = np.empty((0,) * x.ndim, dtype=spec.out_dtype)
    return da.Array(graph, name, chunks, meta=meta), order
