"""What the ``evidence``, ``resolution``, ``refine``, ``psf`` and ``isotropic`` commands share: a
pixel size given in micrometres, checked; the scale of an SR image over its capture."""

from __future__ import annotations

from ..core.errors import InputError
from ..core.inference.config import MAX_PIXEL_UM


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


def scale_of(sr_shape, lr_shape) -> int:
    """SR pixels per capture pixel, from the two (Y, X) shapes."""
    ratio = sr_shape[0] / lr_shape[0]
    s = int(round(ratio))
    if s < 1 or abs(ratio - s) > 0.05 or sr_shape[1] // lr_shape[1] != s:
        raise InputError(
            f"the SR image ({sr_shape[0]} x {sr_shape[1]}) is not a whole multiple of the "
            f"capture ({lr_shape[0]} x {lr_shape[1]}): give --scale"
        )
    return s
