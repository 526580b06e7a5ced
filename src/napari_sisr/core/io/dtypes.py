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


def cast_to(y: np.ndarray, dtype) -> np.ndarray:
    """Cast float output to ``dtype``; integers are rounded and clipped to their range."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return np.clip(np.rint(y), info.min, info.max).astype(dtype)
    return y.astype(dtype, copy=False)
