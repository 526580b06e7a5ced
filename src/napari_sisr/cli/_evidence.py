"""What the ``evidence`` and ``resolution`` commands share: one plane of a file, its pixel size."""

from __future__ import annotations

import numpy as np

from ..core.errors import InputError
from ..core.inference.config import MAX_PIXEL_UM


def read_plane(path: str, channel: int | None) -> tuple[np.ndarray, float | None]:
    """The plane of an image file to measure (the central plane of a stack, one channel or the
    luminance) and the pixel size (nm) its metadata states, if any."""
    from ..core.inference.input import canonical_input
    from ..core.io.units import to_micrometres

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


def pixel_size_nm(
    given_um: float | None, found_nm: float | None, flag: str = "--pixel-size-um"
) -> float | None:
    """The pixel size (nm): the one given (um, checked, named ``flag`` in the message), else
    the file's."""
    if given_um is None:
        return found_nm
    if not 0.001 <= given_um <= MAX_PIXEL_UM:
        raise InputError(
            f"{flag} {given_um:g} is outside what a microscope has (0.001 to "
            f"{MAX_PIXEL_UM:g} um in the sample): the unit is micrometres (65 nm is 0.065)"
        )
    return given_um * 1000.0
