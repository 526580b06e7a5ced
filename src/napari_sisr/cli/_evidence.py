"""What the ``evidence``, ``resolution``, ``psf`` and ``isotropic`` commands share: a pixel size
given in micrometres, checked."""

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
