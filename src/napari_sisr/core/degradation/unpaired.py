"""Unpaired fallback: a degradation model when no HR capture of the LR field exists.

Noise comes from the LR capture alone (:func:`.noiselevel.estimate_noise`); the PSF width
comes from the optics (:func:`.optics.sigma_from_optics`).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .noiselevel import estimate_noise
from .optics import sigma_from_optics
from .params import DegradationParams

__all__ = ["unpaired_params"]


def unpaired_params(
    lr: np.ndarray,
    scale: int,
    *,
    sigma: float | None = None,
    wavelength_nm: float | None = None,
    na: float | None = None,
    lr_pixel_um: float | None = None,
    modality: str = "widefield",
    poisson: bool = False,
) -> DegradationParams:
    """Degradation parameters from an LR capture alone.

    Give ``sigma`` (HR pixels) directly, or the optics (``wavelength_nm``, ``na``,
    ``lr_pixel_um``) to compute it. Gain is 1 and offset 0: the model then simulates LR in the
    HR image's own intensity units, with the noise scaled to the LR image's relative level.
    """
    if sigma is None:
        if None in (wavelength_nm, na, lr_pixel_um):
            raise InputError("give sigma, or all of wavelength_nm, na and lr_pixel_um")
        sigma = sigma_from_optics(wavelength_nm, na, lr_pixel_um, scale, modality)
    noise_var, a = estimate_noise(lr, poisson=poisson)
    return DegradationParams(
        scale=scale,
        sigma=float(sigma),
        noise_var=noise_var,
        poisson_a=a,
        source="unpaired",
        notes={
            "wavelength_nm": wavelength_nm,
            "na": na,
            "lr_pixel_um": lr_pixel_um,
            "modality": modality,
            "noise_units": "LR intensity units of the given capture",
        },
    )
