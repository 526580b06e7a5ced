"""Global intensity normalisation for inference.

Statistics come from a sample of the processed pixels spread over the whole image, chosen by the
image's shape alone: never from single tiles (every tile sees the same mapping, so no seams
appear), never from a pyramid's coarse level (the container does not change the answer). The
network works on ``(x - low) / (high - low)``; its output is mapped back with the same numbers
and cast to the requested dtype (integers rounded and clipped to their range).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError
from ..io.dtypes import cast_to

DEFAULT_NORMALIZATION = {"mode": "percentile", "low": 0.1, "high": 99.9}
MAX_SAMPLE = 1 << 22  # pixels per channel read for the statistics


#: Windows per axis of a plane that is sampled rather than read whole.
SAMPLE_GRID = 16
#: Smallest window side (px) of a sampled plane.
MIN_WINDOW = 8


def sample_windows(h: int, w: int, budget: int) -> list[tuple[slice, slice]]:
    """The regions of an ``h x w`` plane read for its statistics, from its shape alone.

    A plane of at most ``budget`` pixels is read whole; a larger one through a regular grid of
    :data:`SAMPLE_GRID` x :data:`SAMPLE_GRID` square windows spread over it (about ``budget``
    pixels in all). Chunks and pyramids play no part, so the same pixels give the same sample
    whatever holds them, and a chunked store reads only the chunks under the windows.
    """
    if h * w <= budget:
        return [(slice(0, h), slice(0, w))]
    ny, nx = min(SAMPLE_GRID, h), min(SAMPLE_GRID, w)
    side = max(MIN_WINDOW, math.isqrt(max(1, budget // (ny * nx))))
    sy, sx = max(1, min(side, h // ny)), max(1, min(side, w // nx))
    ys = np.linspace(0, h - sy, ny).round().astype(int)
    xs = np.linspace(0, w - sx, nx).round().astype(int)
    return [(slice(y, y + sy), slice(x, x + sx)) for y in ys.tolist() for x in xs.tolist()]


def strided_sample(x, max_pixels: int | None = None) -> np.ndarray:
    """A regular sample of ``x`` (shape ``(..., Y, X, C)``) as an ``(n, C)`` numpy array.

    The first leading axis is strided so that about 16 planes are read; each plane is read
    whole up to ``max_pixels / planes`` pixels, else through :func:`sample_windows`. The rule
    depends on the shape only: numpy, dask of any chunking, TIFF and OME-Zarr (with or
    without a pyramid) holding the same pixels give the same sample. ``max_pixels`` defaults
    to :data:`MAX_SAMPLE`.
    """
    max_pixels = MAX_SAMPLE if max_pixels is None else int(max_pixels)
    shape = x.shape
    lead, (h, w) = shape[:-3], shape[-3:-1]
    index: tuple = ()
    planes = 1
    if lead:  # stride the first leading axis so that about 16 planes are read
        rest = math.prod(lead[1:])
        step0 = max(1, math.ceil(lead[0] / max(1, 16 // rest)))
        index = (slice(None, None, step0),) + (slice(None),) * (len(lead) - 1)
        planes = math.ceil(lead[0] / step0) * rest
    windows = sample_windows(h, w, max(1, max_pixels // planes))
    pieces = [x[index + (ys, xs, slice(None))] for ys, xs in windows]
    if any(hasattr(p, "compute") for p in pieces):
        import dask

        pieces = dask.compute(*pieces)
    return np.concatenate([np.asarray(p).reshape(-1, shape[-1]) for p in pieces])


def check_finite(sample: np.ndarray, what: str = "image") -> None:
    """Raise ``ValueError`` naming how many values are NaN or infinite."""
    if sample.dtype.kind != "f":
        return
    bad = ~np.isfinite(sample)
    if bad.any():
        raise InputError(
            f"{what} contains non-finite values (NaN or inf): {int(bad.sum())} of {bad.size} "
            "sampled values; replace them first (e.g. numpy.nan_to_num)"
        )


def intensity_stats(
    sample: np.ndarray, normalization: dict[str, Any] | None, per_channel: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(low, high)`` per channel from a sample, or ``None`` for ``mode="none"``.

    Parameters
    ----------
    sample : ndarray, shape (n, C)
    normalization : dict
        ``{"mode": "percentile", "low": 0.1, "high": 99.9}`` (the default) or
        ``{"mode": "none"}``.
    per_channel : bool
        One pair per channel, or one pair shared by all channels.
    """
    norm = {**DEFAULT_NORMALIZATION, **(normalization or {})}
    mode = norm["mode"]
    if mode == "none":
        return None
    if mode != "percentile":
        raise InputError(f"unknown normalization mode {mode!r}: use 'percentile' or 'none'")
    check_finite(sample)
    data = sample.astype(np.float64, copy=False)
    q = [float(norm["low"]), float(norm["high"])]
    if per_channel:
        lo, hi = np.percentile(data, q, axis=0)
    else:
        lo_s, hi_s = np.percentile(data, q)
        lo, hi = np.full(data.shape[1], lo_s), np.full(data.shape[1], hi_s)
    hi = np.where(hi > lo, hi, lo + 1.0)  # constant images: keep the mapping invertible
    limit = float(np.finfo(np.float32).max) / 16
    if not (np.all(np.isfinite(hi - lo)) and np.abs(data).max() < limit):
        raise InputError(
            f"intensities up to {np.abs(data).max():.3g} are beyond what the network computes "
            "with (float32): rescale the image first"
        )
    return lo.astype(np.float64), hi.astype(np.float64)


def _wide(dtype) -> bool:
    """Whether intensities of ``dtype`` need float64 arithmetic: float64 values can be far
    below float32's smallest normal number (they would flush to zero), 64-bit integers far
    above its precision."""
    dtype = np.dtype(dtype)
    return dtype.itemsize == 8 and dtype.kind in "uif"


def normalize(window: np.ndarray, stats) -> np.ndarray:
    """Map a ``(..., C)`` window to float32 network input (in float64 arithmetic for 64-bit
    intensities, so that tiny or huge values keep their contrast)."""
    if stats is None:
        return window.astype(np.float32, copy=True)
    lo, hi = stats
    if _wide(window.dtype):
        return ((window.astype(np.float64) - lo) / (hi - lo)).astype(np.float32)
    x = window.astype(np.float32, copy=True)
    x -= lo.astype(np.float32)
    x *= (1.0 / (hi - lo)).astype(np.float32)
    return x


def denormalize(y: np.ndarray, stats, dtype) -> np.ndarray:
    """Map network output (``(..., C)``, float32) back to intensities of ``dtype``."""
    if stats is not None:
        lo, hi = stats
        if _wide(dtype):
            y = y.astype(np.float64) * (hi - lo) + lo
        else:
            y = y * (hi - lo).astype(np.float32) + lo.astype(np.float32)
    return cast_to(y, dtype)
