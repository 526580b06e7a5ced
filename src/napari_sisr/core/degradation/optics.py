"""The PSF width an objective gives: a Gaussian approximation from the emission wavelength,
the numerical aperture and the pixel size, with the physical ranges those values take."""

from __future__ import annotations

import math

from ..errors import InputError
from ..limits import MAX_SIGMA_HR

__all__ = ["OPTICS_RANGES", "PSF_FACTORS", "sigma_from_optics"]

#: Gaussian approximation of the PSF: sigma = k * wavelength / NA (Zhang, Zerubia &
#: Olivo-Marin 2007, paraxial approximations): widefield and confocal (pinhole ~1 AU).
PSF_FACTORS = {"widefield": 0.21, "confocal": 0.15}


#: Physical ranges of optics values (NA, emission wavelength in nm, pixel size in um).
OPTICS_RANGES = {"na": (0.05, 1.7), "wavelength_nm": (200.0, 2000.0), "pixel_um": (0.001, 100.0)}
#: PSF widths (HR px) the optics may give: past these the units are wrong, not the optics.
MIN_SIGMA_HR = 0.01


def sigma_from_optics(
    wavelength_nm: float,
    na: float,
    lr_pixel_um: float,
    scale: int,
    modality: str = "widefield",
) -> float:
    """PSF standard deviation in HR pixels from the emission wavelength and the NA.

    Parameters
    ----------
    wavelength_nm : float
        Emission wavelength in nanometres.
    na : float
        Numerical aperture of the objective that took the LR image.
    lr_pixel_um : float
        LR pixel size in the sample plane, in micrometres.
    scale : int
        Super-resolution factor; an HR pixel is ``lr_pixel_um / scale``.
    modality : {"widefield", "confocal"}
        Imaging mode, which sets the Gaussian approximation factor.
    """
    if modality not in PSF_FACTORS:
        raise InputError(f"modality must be one of {sorted(PSF_FACTORS)}, got {modality!r}")
    for name, v in {"wavelength_nm": wavelength_nm, "na": na, "lr_pixel_um": lr_pixel_um}.items():
        if not (math.isfinite(v) and v > 0):
            raise InputError(f"{name} must be a positive number, got {v}")
    for name, v, (lo, hi), unit in (
        ("NA", na, OPTICS_RANGES["na"], ""),
        ("emission wavelength", wavelength_nm, OPTICS_RANGES["wavelength_nm"], " nm"),
        ("LR pixel size", lr_pixel_um, OPTICS_RANGES["pixel_um"], " um"),
    ):
        if not lo <= v <= hi:
            raise InputError(
                f"{name} {v:g}{unit} is outside what a light microscope has ({lo:g} to "
                f"{hi:g}{unit}): check the value and its unit"
            )
    sigma_um = PSF_FACTORS[modality] * (wavelength_nm * 1e-3) / na
    hr_pixel_um = lr_pixel_um / scale
    sigma = sigma_um / hr_pixel_um
    if not MIN_SIGMA_HR <= sigma <= MAX_SIGMA_HR:
        raise InputError(
            f"these optics give a PSF of {sigma:.3g} HR px (sigma {sigma_um * 1000:.0f} nm, HR "
            f"pixel {hr_pixel_um * 1000:.3g} nm): outside {MIN_SIGMA_HR:g} to {MAX_SIGMA_HR:g} "
            "HR px; is the pixel size in micrometres?"
        )
    return sigma
