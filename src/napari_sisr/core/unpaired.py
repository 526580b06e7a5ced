"""Unpaired fallback: a degradation model when no HR capture of the LR field exists.

Noise comes from the LR capture alone; the PSF width comes from the optics.
"""

from __future__ import annotations

import math

import numpy as np

from .config import DegradationParams

__all__ = ["estimate_noise", "sigma_from_optics", "unpaired_params"]

#: Gaussian approximation of the PSF: sigma = k * wavelength / NA (Zhang, Zerubia &
#: Olivo-Marin 2007, paraxial approximations): widefield and confocal (pinhole ~1 AU).
PSF_FACTORS = {"widefield": 0.21, "confocal": 0.15}


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
        raise ValueError(f"modality must be one of {sorted(PSF_FACTORS)}, got {modality!r}")
    for name, v in {"wavelength_nm": wavelength_nm, "na": na, "lr_pixel_um": lr_pixel_um}.items():
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive number, got {v}")
    if na > 1.7:
        raise ValueError(f"NA {na} is not physical (max about 1.7 for oil immersion)")
    sigma_um = PSF_FACTORS[modality] * (wavelength_nm * 1e-3) / na
    hr_pixel_um = lr_pixel_um / scale
    return sigma_um / hr_pixel_um


def estimate_noise(lr: np.ndarray, poisson: bool = False) -> tuple[float, float | None]:
    """Noise variance of an image from the image alone.

    Gaussian: the robust (median absolute deviation) estimate from the finest diagonal
    differences, which removes most of the image structure. Poisson-Gaussian: the same
    local estimate in blocks, regressed on the local mean (``var = a * mean + b``).

    Returns
    -------
    (noise_var, poisson_a)
        ``poisson_a`` is ``None`` unless ``poisson`` is true.
    """
    lr = np.asarray(lr, dtype=np.float64)
    if lr.ndim != 2:
        raise ValueError(f"expected a 2D image, got shape {lr.shape}")
    if not np.all(np.isfinite(lr)):
        raise ValueError("image contains NaN or infinite values")
    if np.ptp(lr) == 0:
        raise ValueError("image is constant: no noise can be estimated")
    # Second-order diagonal difference: for white noise of variance v its variance is 4 v.
    d = (lr[:-1, :-1] - lr[1:, :-1] - lr[:-1, 1:] + lr[1:, 1:]) / 2.0
    if not poisson:
        mad = np.median(np.abs(d - np.median(d)))
        return float((mad / 0.6744897501960817) ** 2), None
    block = 16
    ny, nx = (d.shape[0] // block) * block, (d.shape[1] // block) * block
    if ny == 0 or nx == 0:
        raise ValueError("image too small for a Poisson-Gaussian noise estimate")
    db = d[:ny, :nx].reshape(ny // block, block, nx // block, block)
    mb = lr[:ny, :nx].reshape(ny // block, block, nx // block, block).mean(axis=(1, 3))
    med = np.median(db, axis=(1, 3), keepdims=True)
    vb = (np.median(np.abs(db - med), axis=(1, 3)) / 0.6744897501960817) ** 2
    x, y = mb.ravel(), vb.ravel()
    design = np.stack([x, np.ones_like(x)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(max(b, 0.0)), float(max(a, 0.0))


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
            raise ValueError("give sigma, or all of wavelength_nm, na and lr_pixel_um")
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
