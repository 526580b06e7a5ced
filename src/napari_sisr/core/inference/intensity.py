"""Global intensity normalisation for inference.

Statistics come from a strided sample of the whole image (or from a coarse pyramid level),
never from single tiles, so every tile sees the same mapping and no seams appear. The network
works on ``(x - low) / (high - low)``; its output is mapped back with the same numbers and cast
to the requested dtype (integers rounded and clipped to their range).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError
from ..io.dtypes import cast_to

DEFAULT_NORMALIZATION = {"mode": "percentile", "low": 0.1, "high": 99.9}
MAX_SAMPLE = 1 << 22  # pixels per channel read for the statistics


def strided_sample(x, max_pixels: int = MAX_SAMPLE) -> np.ndarray:
    """A regular sample of ``x`` (shape ``(..., Y, X, C)``) as an ``(n, C)`` numpy array.

    Leading axes and Y/X are strided evenly so that about ``max_pixels`` pixels are read; of a
    dask array with many chunks only evenly spaced chunk rows and columns are read.
    """
    x = _chunk_subset(x)
    shape = x.shape
    lead, (h, w) = shape[:-3], shape[-3:-1]
    index: list[Any] = []
    planes = 1
    if lead:  # stride the first leading axis so that about 16 planes are read
        rest = math.prod(lead[1:])
        step0 = max(1, math.ceil(lead[0] / max(1, 16 // rest)))
        index = [slice(None, None, step0)] + [slice(None)] * (len(lead) - 1)
        planes = math.ceil(lead[0] / step0) * rest
    step = max(1, math.ceil(math.sqrt(h * w * planes / max_pixels)))
    index += [slice(None, None, step), slice(None, None, step), slice(None)]
    sample = x[tuple(index)]
    if hasattr(sample, "compute"):
        sample = sample.compute()
    sample = np.asarray(sample)
    return sample.reshape(-1, shape[-1])


def _chunk_subset(x, per_axis: int = 8):
    """For chunked (dask) arrays: evenly spaced chunk rows and columns only, so that a huge
    image costs at most ``per_axis**2`` chunk reads per plane instead of a full pass."""
    chunks = getattr(x, "chunks", None)
    if chunks is None or not hasattr(x, "blocks"):
        return x
    lead = (slice(None),) * (x.ndim - 3)
    for axis in (-3, -2):
        n = len(chunks[axis])
        if n > per_axis:
            pick = np.unique(np.linspace(0, n - 1, per_axis).round().astype(int)).tolist()
            index = lead + ((pick,) if axis == -3 else (slice(None), pick))
            x = x.blocks[index]
    return x


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


def normalize(window: np.ndarray, stats) -> np.ndarray:
    """Map a ``(..., C)`` window to float32 network input."""
    x = window.astype(np.float32, copy=True)
    if stats is not None:
        lo, hi = stats
        x -= lo.astype(np.float32)
        x *= (1.0 / (hi - lo)).astype(np.float32)
    return x


def denormalize(y: np.ndarray, stats, dtype) -> np.ndarray:
    """Map network output (``(..., C)``, float32) back to intensities of ``dtype``."""
    if stats is not None:
        lo, hi = stats
        y = y * (hi - lo).astype(np.float32) + lo.astype(np.float32)
    return cast_to(y, dtype)
