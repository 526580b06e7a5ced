"""One plane of an image file to measure, and the pixel size its metadata states."""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def read_plane(path: str, channel: int | None) -> tuple[np.ndarray, float | None]:
    """The plane of an image file to measure (the central plane of a stack, one channel or the
    luminance) and the pixel size (nm) its metadata states, if any."""
    from ..inference.input import canonical_input
    from ..io.units import to_micrometres

    inp = canonical_input(path)
    data = inp.data
    while data.ndim > 3:
        data = data[data.shape[0] // 2]
    c = data.shape[-1]
    if channel is not None:
        if not 0 <= channel < c:
            raise InputError(f"{path}: channel {channel} does not exist (it has {c})")
        plane = np.asarray(data[..., channel], np.float64)
    elif c in (3, 4):
        plane = np.asarray(data[..., :3], np.float64) @ np.array([0.2126, 0.7152, 0.0722])
    else:
        plane = np.asarray(data[..., 0], np.float64)
    size, unit = inp.pixel_size.get("x"), inp.units.get("x")
    um = to_micrometres(size, unit) if size is not None and unit else None
    return plane, (um * 1000 if um else None)
