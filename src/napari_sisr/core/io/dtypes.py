"""Image dtypes: which ones the package processes, and casting results back to them."""

from __future__ import annotations

import numpy as np

from ..errors import InputTypeError

_SUPPORTED_KINDS = "uif"


def check_dtype(arr, what: str = "image") -> None:
    """Raise a clear ``TypeError`` for dtypes the package cannot process."""
    dt = np.dtype(arr.dtype)
    if dt.kind == "b":
        raise InputTypeError(f"{what} has boolean dtype: a label or mask, not an intensity image")
    if dt.kind == "c":
        raise InputTypeError(f"{what} has complex dtype {dt}: take its magnitude or phase first")
    if dt.kind not in _SUPPORTED_KINDS:
        raise InputTypeError(f"{what} has unsupported dtype {dt}: expected integers or floats")


def integer_bounds(dtype) -> tuple[float, float]:
    """The smallest and largest float64 values that cast into integer ``dtype`` without wrapping.

    ``float(2**63 - 1)`` is ``2**63``, one past the largest int64, which wraps to the smallest;
    the bounds are the representable floats inside the range.
    """
    info = np.iinfo(dtype)
    lo, hi = float(info.min), float(info.max)
    if int(hi) > info.max:
        hi = float(np.nextafter(hi, 0.0))
    if int(lo) < info.min:
        lo = float(np.nextafter(lo, 0.0))
    return lo, hi


def cast_to(y: np.ndarray, dtype) -> np.ndarray:
    """Cast float output to ``dtype``; integers are rounded and saturate at their range (never
    wrap: 2147483647.6 becomes 2147483647 as int32, not -2147483648)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        lo, hi = integer_bounds(dtype)
        return np.clip(np.rint(np.asarray(y, dtype=np.float64)), lo, hi).astype(dtype)
    if dtype.kind == "f" and dtype.itemsize < np.asarray(y).dtype.itemsize:
        info = np.finfo(dtype)
        return np.clip(y, info.min, info.max).astype(dtype)
    return y.astype(dtype, copy=False)
