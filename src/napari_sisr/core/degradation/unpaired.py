"""Unpaired fallback: a degradation model when no HR capture of the LR field exists.

Noise comes from the LR capture alone; the PSF width comes from the optics.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError, InputTypeError
from ..limits import MAX_SIGMA_HR
from .params import DegradationParams

__all__ = ["estimate_noise", "sigma_from_optics", "unpaired_params"]

#: Gaussian approximation of the PSF: sigma = k * wavelength / NA (Zhang, Zerubia &
#: Olivo-Marin 2007, paraxial approximations): widefield and confocal (pinhole ~1 AU).
PSF_FACTORS = {"widefield": 0.21, "confocal": 0.15}
#: Intensity bins of the Poisson-Gaussian noise estimate.
_POISSON_BINS = 8


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


def estimate_noise(lr: np.ndarray, poisson: bool = False) -> tuple[float, float | None]:
    """Noise variance of an image from the image alone.

    The variance along the least-signal direction of small weakly-textured patches, measured
    by cross-validation between the two halves of the image (see
    :mod:`napari_sisr.core.degradation.noiselevel`). With ``poisson=True`` the same estimate is
    made in bins of the local mean intensity and ``var = a * mean + b`` is fitted to the bins.

    Pixels at the image's minimum or maximum are treated as clipped or saturated and the
    patches containing them are left out.

    Parameters
    ----------
    lr : numpy.ndarray
        A 2D image (at least 32 x 32 pixels).
    poisson : bool
        Fit Poisson-Gaussian noise instead of a single variance.

    Returns
    -------
    (noise_var, poisson_a)
        ``noise_var`` is the Gaussian variance (``b``; with Poisson noise, the variance
        extrapolated to intensity 0, so a camera offset ``o`` folds into it as ``b - a*o``);
        ``poisson_a`` is ``None`` unless ``poisson`` is true.
    """
    from .noiselevel import patch_noise_variance, patch_stats

    lr = np.asarray(lr)
    if lr.dtype.kind not in "uif":
        raise InputTypeError(f"image has unsupported dtype {lr.dtype}: expected integers or floats")
    lr = lr.astype(np.float64)
    if lr.ndim != 2:
        raise InputError(f"expected a 2D image, got shape {lr.shape}")
    if not np.all(np.isfinite(lr)):
        raise InputError("image contains NaN or infinite values")
    if np.ptp(lr) == 0:
        raise InputError("image is constant: no noise can be estimated")
    if min(lr.shape) < 32:
        raise InputError(f"image {lr.shape[0]}x{lr.shape[1]} is too small (need 32x32)")
    p = 7 if min(lr.shape) >= 96 else 5
    h = lr.shape[0] // 2
    clip = (float(lr.min()), float(lr.max()))
    (pa, ta, ma), (pb, tb, mb) = patch_stats(lr[:h], p, clip), patch_stats(lr[h:], p, clip)
    if min(len(pa), len(pb)) < 10 * p * p:
        raise InputError(
            "too few image patches free of clipped or saturated pixels (at the image minimum or "
            "maximum) to estimate the noise"
        )
    var, used = patch_noise_variance((pa, ta), (pb, tb), p)
    if used == 0:
        raise InputError("too few weakly-textured patches to estimate the noise")
    if not poisson:
        return var, None
    edges = np.quantile(np.concatenate([ma, mb]), np.linspace(0, 1, _POISSON_BINS + 1))
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_a, in_b = (ma >= lo) & (ma <= hi), (mb >= lo) & (mb <= hi)
        v, n = patch_noise_variance((pa[in_a], ta[in_a]), (pb[in_b], tb[in_b]), p)
        if n:
            level = float(np.concatenate([ma[in_a], mb[in_b]]).mean())
            rows.append((level, v, n))
    if len(rows) < 3:
        return var, 0.0
    level, v, n = (np.asarray(c, dtype=np.float64) for c in zip(*rows, strict=True))
    w = np.sqrt(n)
    design = np.stack([level, np.ones_like(level)], axis=1) * w[:, None]
    (a, b), *_ = np.linalg.lstsq(design, v * w, rcond=None)
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
