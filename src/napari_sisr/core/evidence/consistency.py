"""Does the capture support the result? The SR output taken back through the microscope.

A super-resolved image ``SR`` claims a sample; the microscope's degradation model (the PSF,
pixel integration, gain and offset) says what the capture of that sample would look like.
Degrading ``SR`` and comparing with the real capture, pixel by pixel, in units of the noise
the capture carries there (the Poisson-Gaussian noise model), gives a z-score map on the LR
grid: ``|z| <= 3`` is what noise alone does (99.7 % of pixels), larger values are structure
the SR image has and the capture does not, or the reverse. The same idea as NanoJ-SQUIRREL's
error map for fluctuation-based SR, with the fitted physical model instead of a fitted
Gaussian kernel.

What it can see: intensity errors, objects added or removed, anything at the scale the capture
resolves. What it cannot: detail finer than the capture's own resolution (two SR images that
differ only there degrade to the same capture); that is what the resolution of split inputs
(:mod:`.resolution`) and the steering uncertainty (:mod:`.uncertainty`) are for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .forward import Region, _linear, degrade, regions


@dataclass
class Consistency:
    """The result of :func:`consistency`: the z-score map on the LR grid and its summaries."""

    z: np.ndarray  # (Y, X) on the LR grid; NaN outside the scored area
    simulated: np.ndarray | None  # the SR image degraded to the LR grid (LR units)
    rse: float  # root-mean-square error, fraction of the LR range
    rsp: float  # Pearson correlation of the capture and the degraded SR image
    flagged_fraction: float  # LR pixels with |z| > 3
    regions: list[Region]
    residual_lag1: float  # whiteness of the residual (0: white noise)
    sigma: float  # PSF width used (HR px)
    sigma_source: str
    noise_source: str
    gain: float
    offset: float
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "rse": self.rse,
            "rsp": self.rsp,
            "flagged_fraction": self.flagged_fraction,
            "regions": [r.as_dict() for r in self.regions[:50]],
            "n_regions": len(self.regions),
            "residual_lag1": self.residual_lag1,
            "sigma_hr_px": self.sigma,
            "sigma_source": self.sigma_source,
            "noise_source": self.noise_source,
            "notes": list(self.notes),
        }


def fit_sigma(sr: np.ndarray, lr: np.ndarray, scale: int, max_side: int = 512) -> float:
    """The PSF width (HR px) that takes the SR image closest to the capture, with its own gain
    and offset (what SQUIRREL does for an SR method of unknown blur); on a central crop of at
    most ``max_side`` LR px."""
    from scipy.optimize import minimize_scalar

    h, w = lr.shape
    y0, x0 = max(0, (h - max_side) // 2), max(0, (w - max_side) // 2)
    lr = lr[y0 : y0 + max_side, x0 : x0 + max_side]
    sr = sr[y0 * scale : (y0 + lr.shape[0]) * scale, x0 * scale : (x0 + lr.shape[1]) * scale]

    def rss(sigma: float) -> float:
        sim = degrade(sr, scale, (sigma, sigma))
        g, o = _linear(sim, lr)
        return float(((lr - g * sim - o) ** 2).mean())

    res = minimize_scalar(rss, bounds=(0.0, 6.0 * scale), method="bounded", options={"xatol": 0.02})
    return float(res.x)


def consistency(
    sr,
    lr,
    scale: int,
    *,
    sigma: float | tuple[float, float] | None = None,
    shift_yx: tuple[float, float] = (0.0, 0.0),
    noise: tuple[float, float | None] | None = None,
    sigma_source: str = "given",
    tile: int | None = None,
) -> Consistency:
    """The z-score map of ``sr`` against the capture ``lr`` (see the module docstring).

    Parameters
    ----------
    sr : 2D array-like
        The super-resolved image (HR grid, ``scale`` times ``lr``): numpy, dask or zarr.
    lr : 2D array-like
        The capture it was made from (or any capture of that field on that grid).
    scale : int
        Pixels of ``sr`` per pixel of ``lr``.
    sigma : float or (float, float), optional
        PSF width in HR px the degradation uses (the one the model was steered or trained
        with); fitted to the pair when omitted.
    shift_yx : (float, float)
        Translation of ``sr`` against ``lr`` in HR px (0 for an SR image of that capture; a
        real HR image of the field takes its fit's shift).
    noise : (noise_var, poisson_a), optional
        The capture's noise model in its own units (variance ``noise_var + poisson_a *
        intensity``); estimated from the capture when omitted.
    tile : int, optional
        LR tile side of the computation (:mod:`.tiled`; default one tile up to 2048 px).
    """
    from .tiled import TILE, check_shapes, consistency_tiled

    s = int(scale)
    check_shapes(tuple(sr.shape), tuple(lr.shape), s)
    if sigma is None:
        sigma = fit_sigma(_plane(sr, lr.shape, s), _plane(lr, lr.shape, 1), s)
        sigma_source = "fitted to the pair (SR, capture)"
    sy, sx = (float(sigma), float(sigma)) if np.isscalar(sigma) else tuple(map(float, sigma))
    if tile is None:
        tile = max(lr.shape) if max(lr.shape) <= 2048 else TILE
    z, summary = consistency_tiled(sr, lr, s, (sy, sx), shift_yx=shift_yx, noise=noise, tile=tile)
    sim = None
    if max(lr.shape) <= 4096:  # small enough to keep the degraded image beside the map
        sim = degrade(_plane(sr, lr.shape, s), s, (sy, sx), shift_yx)
        sim = summary["gain"] * sim + summary["offset"]
    return Consistency(
        z,
        sim,
        summary["rse"],
        summary["rsp"],
        summary["flagged_fraction"],
        regions(z),
        summary["residual_lag1"],
        float(np.sqrt(sy * sx)),
        sigma_source,
        summary["noise_source"],
        summary["gain"],
        summary["offset"],
        summary["notes"],
    )


def _plane(a, lr_shape, s: int) -> np.ndarray:
    a = np.asarray(a[: lr_shape[0] * s, : lr_shape[1] * s], dtype=np.float64)
    if not np.isfinite(a).all():
        raise InputError("the images hold NaN or infinite values")
    return a
