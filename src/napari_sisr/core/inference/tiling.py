"""Tile plans as data: which low-resolution window each tile reads, which part of its output is
kept, and where that part goes in the super-resolved image.

A plan covers one ``(Y, X)`` plane. Tile *cores* partition the plane on a regular grid; each tile
reads its core plus ``halo`` pixels on every side, and every window has the same shape (so all
tiles can be batched). Where a window reaches past the image, the missing pixels are the image
mirrored at its border (:func:`symmetric_indices`, numpy's and bioimage.io's "symmetric"
padding): an untiled run is the network on the image padded by the halo, and an exported
bioimage.io package run by its own tools gives the same pixels. With ``halo`` at least the
network's receptive field, every kept output pixel depends only on pixels inside its window,
and stitching by plain slicing reproduces the untiled output to float round-off.

For networks with global operations (no finite receptive field) :func:`blend_weights` gives
weights that cross-fade overlapping tile outputs instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

Slice2 = tuple[slice, slice]


@dataclass(frozen=True)
class Tile:
    """One tile of a plan (all slices are plain ``slice(start, stop)``).

    Attributes
    ----------
    index : (int, int)
        Position in the tile grid.
    src : (slice, slice)
        Low-resolution window read by the tile (core plus halo), in image coordinates.
    core : (slice, slice)
        Low-resolution region this tile is responsible for.
    crop : (slice, slice)
        Region of the tile's model output (``scale`` times ``src``) that is kept.
    dst : (slice, slice)
        Where the kept region goes in the output image (``scale`` times ``core``).
    """

    index: tuple[int, int]
    src: Slice2
    core: Slice2
    crop: Slice2
    dst: Slice2


@dataclass(frozen=True)
class Block:
    """A group of tiles of one grid row that are run as one batch and stored as one chunk."""

    index: tuple[int, int]
    tiles: tuple[Tile, ...]
    src: Slice2
    dst: Slice2


def balanced_core(n: int, tile: int) -> int:
    """Core length for an axis of ``n`` pixels: as many tiles as ``tile`` needs, equal-sized.

    Equal cores waste less than ``tile``-long cores plus a short remainder (every window has
    the same length). Cores of tiles of 64 px or more are rounded up to a multiple of 16 (never
    past ``tile``) so that output chunks halve cleanly for pyramids.
    """
    k = math.ceil(n / tile)
    core = math.ceil(n / k)
    if tile >= 64:
        core = min(tile, math.ceil(core / 16) * 16)
    return core


def axis_windows(n: int, tile: int, halo: int) -> list[tuple[int, int, int, int]]:
    """Split one axis of length ``n`` into ``(core0, core1, src0, src1)`` windows.

    Cores are at most ``tile`` long and balanced (:func:`balanced_core`; the last may be
    shorter); every window is ``min(core, n) + 2 * halo`` long and starts ``halo`` before its
    core, so it may reach past the image (``src0 < 0``, ``src1 > n``): those pixels are
    mirrored (:func:`symmetric_indices`).
    """
    if n < 1:
        raise InputError(f"axis length must be >= 1, got {n}")
    if tile < 1 or halo < 0:
        raise InputError(f"tile must be >= 1 and halo >= 0, got tile={tile}, halo={halo}")
    core = balanced_core(n, tile)
    length = min(core, n) + 2 * halo
    return [(c0, min(c0 + core, n), c0 - halo, c0 - halo + length) for c0 in range(0, n, core)]


def symmetric_indices(start: int, stop: int, n: int) -> np.ndarray:
    """Image indices of window positions ``start .. stop-1`` on an axis of ``n`` pixels:
    inside the image each position itself, outside it the image mirrored at its edge with
    the edge pixel repeated (``-1 -> 0``, ``n -> n-1``; numpy's ``mode="symmetric"``)."""
    q = np.mod(np.arange(start, stop), 2 * n)
    return np.where(q < n, q, 2 * n - 1 - q)


def take_window(image, src: Slice2) -> np.ndarray:
    """The window ``src`` of ``image`` (its last two axes are Y and X; ``(..., Y, X)``), with
    the image mirrored where the window reaches past it."""
    (ys, xs), (h, w) = src, image.shape[-2:]
    if ys.start >= 0 and xs.start >= 0 and ys.stop <= h and xs.stop <= w:
        return np.asarray(image[..., ys, xs])
    iy = symmetric_indices(ys.start, ys.stop, h)
    ix = symmetric_indices(xs.start, xs.stop, w)
    y0, x0 = int(iy.min()), int(ix.min())  # read only the pixels needed (lazy arrays too)
    box = np.asarray(image[..., y0 : int(iy.max()) + 1, x0 : int(ix.max()) + 1])
    return box[..., (iy - y0)[:, None], (ix - x0)[None, :]]


@dataclass(frozen=True)
class TilePlan:
    """The tiles of one plane, row-major, and the shapes they imply."""

    shape: tuple[int, int]
    scale: int
    tile: tuple[int, int]
    halo: int
    tiles: tuple[Tile, ...]
    grid: tuple[int, int]

    @property
    def out_shape(self) -> tuple[int, int]:
        return self.shape[0] * self.scale, self.shape[1] * self.scale

    @property
    def window(self) -> tuple[int, int]:
        """Shape of every tile's low-resolution window."""
        src = self.tiles[0].src
        return src[0].stop - src[0].start, src[1].stop - src[1].start

    def __len__(self) -> int:
        return len(self.tiles)

    def blocks(self, batch: int = 1) -> list[Block]:
        """Group up to ``batch`` consecutive tiles of each row into blocks (row-major)."""
        batch = max(1, int(batch))
        ny, nx = self.grid
        out = []
        for ty in range(ny):
            row = self.tiles[ty * nx : (ty + 1) * nx]
            for bx, g0 in enumerate(range(0, nx, batch)):
                group = row[g0 : g0 + batch]
                src = (group[0].src[0], slice(group[0].src[1].start, group[-1].src[1].stop))
                dst = (group[0].dst[0], slice(group[0].dst[1].start, group[-1].dst[1].stop))
                out.append(Block((ty, bx), tuple(group), src, dst))
        return out

    def block_chunks(self, batch: int = 1) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Output (HR) chunk sizes along Y and X when tiles are grouped by ``batch``."""
        batch = max(1, int(batch))
        ny, nx = self.grid
        ys = tuple(t.dst[0].stop - t.dst[0].start for t in self.tiles[::nx])
        xs_t = [t.dst[1].stop - t.dst[1].start for t in self.tiles[:nx]]
        xs = tuple(sum(xs_t[i : i + batch]) for i in range(0, nx, batch))
        return ys, xs


def make_plan(
    shape: Sequence[int], tile: int | Sequence[int], halo: int, scale: int = 1
) -> TilePlan:
    """Plan the tiles of a ``(Y, X)`` plane.

    Parameters
    ----------
    shape : (int, int)
        Low-resolution plane shape.
    tile : int or (int, int)
        Largest core size in low-resolution pixels (the window adds ``2 * halo``); cores are
        balanced to equal sizes (:func:`balanced_core`).
    halo : int
        Context in low-resolution pixels on each side of a core.
    scale : int
        Upscaling factor of the network.
    """
    h, w = (int(v) for v in shape)
    ty, tx = (int(tile), int(tile)) if np.isscalar(tile) else (int(tile[0]), int(tile[1]))
    halo, scale = int(halo), int(scale)
    if scale < 1:
        raise InputError(f"scale must be >= 1, got {scale}")
    wy, wx = axis_windows(h, ty, halo), axis_windows(w, tx, halo)
    tiles = []
    for iy, (cy0, cy1, sy0, sy1) in enumerate(wy):
        for ix, (cx0, cx1, sx0, sx1) in enumerate(wx):
            tiles.append(
                Tile(
                    index=(iy, ix),
                    src=(slice(sy0, sy1), slice(sx0, sx1)),
                    core=(slice(cy0, cy1), slice(cx0, cx1)),
                    crop=(
                        slice((cy0 - sy0) * scale, (cy1 - sy0) * scale),
                        slice((cx0 - sx0) * scale, (cx1 - sx0) * scale),
                    ),
                    dst=(slice(cy0 * scale, cy1 * scale), slice(cx0 * scale, cx1 * scale)),
                )
            )
    return TilePlan((h, w), scale, (ty, tx), halo, tuple(tiles), (len(wy), len(wx)))


def stitch(plan: TilePlan, outputs: Sequence[np.ndarray]) -> np.ndarray:
    """Assemble tile outputs (each ``scale`` times its window, trailing axes allowed)."""
    first = np.asarray(outputs[0])
    out = np.empty(plan.out_shape + first.shape[2:], dtype=first.dtype)
    for t, y in zip(plan.tiles, outputs, strict=True):
        out[t.dst] = np.asarray(y)[t.crop]
    return out


def _ramp(start: int, stop: int, n: int, ramp: int) -> np.ndarray:
    """1D weights over ``[start, stop)``: rising over ``ramp`` pixels from edges inside ``n``."""
    pos = np.arange(stop - start, dtype=np.float64) + 0.5
    w = np.ones(stop - start)
    if ramp > 0:
        if start > 0:
            w = np.minimum(w, pos / ramp)
        if stop < n:
            w = np.minimum(w, pos[::-1] / ramp)
    return w


def blend_weights(plan: TilePlan, tile: Tile) -> np.ndarray:
    """Cross-fade weights over a tile's whole output window (HR pixels), never zero.

    Weights ramp linearly over ``halo * scale`` output pixels from window edges that lie inside
    the image and are 1 elsewhere, so a pixel's blended value moves smoothly from one tile to
    the next across the overlap.
    """
    s, ramp = plan.scale, plan.halo * plan.scale
    (h, w), (ys, xs) = plan.out_shape, tile.src
    wy = _ramp(ys.start * s, ys.stop * s, h, ramp)
    wx = _ramp(xs.start * s, xs.stop * s, w, ramp)
    return np.outer(wy, wx)


def blend_sources(plan: TilePlan, dst: Slice2) -> list[Tile]:
    """Tiles whose output window overlaps the output region ``dst`` (for blending)."""
    s, (ny, nx) = plan.scale, plan.grid
    rows = [
        iy
        for iy in range(ny)
        if plan.tiles[iy * nx].src[0].start * s < dst[0].stop
        and plan.tiles[iy * nx].src[0].stop * s > dst[0].start
    ]
    cols = [
        ix
        for ix in range(nx)
        if plan.tiles[ix].src[1].start * s < dst[1].stop
        and plan.tiles[ix].src[1].stop * s > dst[1].start
    ]
    return [plan.tiles[iy * nx + ix] for iy in rows for ix in cols]
