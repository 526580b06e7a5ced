"""Fit the degradation model to a real (HR, LR) pair of the same field.

The pair need not be registered: the fit finds the sub-pixel shift, the PSF width(s), the
intensity mapping (gain, offset) and the noise. Gain and offset enter linearly and are solved in
closed form inside every evaluation (variable projection); the non-linear parameters
(sigma, shift) are refined by least squares from a phase-correlation shift and a sigma grid.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, InputTypeError
from ..limits import MAX_SCALE, MIN_SCALE
from ..progress import Cancelled, Progress, StopLike, as_stop, check_stop, run_to_end
from .families import compare_psf_families
from .params import DegradationParams
from .quality import LAG1_DOUBTFUL, assess_fit
from .registration import integer_offset, subpixel_shift
from .simulate import axis_operator

__all__ = ["fit_degradation", "iter_fit", "residual_stats", "validate_pair"]

SIGMA_BOUNDS = (0.3, 24.0)
#: Where the noise comes from (``noise=``); a residual this many times the LR image's own
#: noise (std) is mostly structure the model does not explain.
NOISE_SOURCES, MISMATCH_RATIO = ("residual", "image"), 2.0
_SIGMA_GRID = (0.5, 0.8, 1.2, 1.7, 2.4, 3.4, 4.8, 6.8, 9.6, 13.6, 19.2)


def _check_image(arr: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype.kind in "bc" or arr.dtype.kind not in "uif":
        raise InputTypeError(f"{name} image has unsupported dtype {arr.dtype}")
    if arr.ndim != 2:
        raise InputError(
            f"{name} image must be a single 2D plane after channel selection, got shape {arr.shape}"
        )
    if arr.size == 0:
        raise InputError(f"{name} image is empty")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InputError(f"{name} image contains {int(bad.sum())} NaN or infinite values")
    if np.ptp(arr) == 0:
        raise InputError(f"{name} image is constant ({arr.flat[0]:g}): nothing to fit")
    return arr


def validate_pair(hr: np.ndarray, lr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Check an (HR, LR) pair and return both as float64 2D arrays.

    Raises ``ValueError`` / ``TypeError`` naming the problem: wrong dimensionality, NaN/inf,
    constant images, a scale that does not fit, or an LR image not smaller than HR by ``scale``.
    """
    if int(scale) != scale or not MIN_SCALE <= scale <= MAX_SCALE:
        raise InputError(f"scale must be an integer from {MIN_SCALE} to {MAX_SCALE}, got {scale}")
    hr_a, lr_a = np.asarray(hr), np.asarray(lr)
    if hr_a.ndim != lr_a.ndim:
        raise InputError(
            f"HR and LR have different dimensionality: HR {hr_a.shape} vs LR {lr_a.shape}"
        )
    hr_f = _check_image(hr_a, "HR")
    lr_f = _check_image(lr_a, "LR")
    ny, nx = hr_f.shape
    my, mx = lr_f.shape
    if my * scale > ny * 1.1 + scale or mx * scale > nx * 1.1 + scale:
        raise InputError(
            f"LR {my}x{mx} is not smaller than HR {ny}x{nx} by the scale {scale}: expected "
            f"LR of about {ny // scale}x{nx // scale} (is the scale right, or are the images "
            "swapped?)"
        )
    if my < 16 or mx < 16:
        raise InputError(f"LR image {my}x{mx} is too small to fit (need at least 16x16)")
    return hr_f, lr_f


def _simulate(hr: np.ndarray, s: int, sy: float, sx: float, dy: float, dx: float, shape):
    ay = axis_operator(hr.shape[0], s, sy, dy, n_lr=shape[0])
    ax = axis_operator(hr.shape[1], s, sx, dx, n_lr=shape[1])
    return (ax @ (ay @ hr).T).T


def _linear_fit(sim: np.ndarray, lr: np.ndarray) -> tuple[float, float]:
    """Least-squares gain and offset with ``lr ~ gain * sim + offset``."""
    from ..metrics import gain_offset

    return gain_offset(sim, lr)


def _lag1(r: np.ndarray) -> float:
    """Mean lag-1 autocorrelation of a residual along Y and X (0 for white noise)."""
    r = r - r.mean()
    var = float((r * r).mean())
    if var == 0:
        return 0.0
    cy = float((r[1:] * r[:-1]).mean()) / var
    cx = float((r[:, 1:] * r[:, :-1]).mean()) / var
    return 0.5 * (cy + cx)


def residual_stats(residual: np.ndarray, n_params: int = 0) -> dict[str, float]:
    """Standard deviation and whiteness (lag-1 autocorrelation) of a fit residual."""
    n = residual.size
    rss = float(((residual - residual.mean()) ** 2).sum())
    return {
        "residual_std": math.sqrt(rss / max(n - n_params, 1)),
        "residual_lag1": _lag1(residual),
    }


def _inner_region(
    lr_shape: tuple[int, int],
    hr_shape: tuple[int, int],
    s: int,
    sigma: float,
    shift: tuple[float, float],
) -> tuple[slice, slice]:
    """LR pixels whose HR footprint stays inside the HR image for PSFs up to ``sigma``.

    LR pixel ``i`` reads HR rows ``s*i - shift - r .. s*i + s - 1 - shift + r`` with the PSF
    reach ``r = ceil(4 sigma) + 1``, for any shift within ``s`` of ``shift`` (the bounds of the
    refinement). Keeps at least the central half of each axis.
    """
    out = []
    for m, n, d in zip(lr_shape, hr_shape, shift, strict=True):
        r = math.ceil(4 * sigma) + 1 + s
        i = np.arange(m)
        ok = np.flatnonzero((s * i - d - r >= 0) & (s * i + s - 1 - d + r <= n - 1))
        if len(ok) >= max(m // 2, 8):
            out.append(slice(int(ok[0]), int(ok[-1]) + 1))
        else:
            out.append(slice(m // 4, m - m // 4))
    return out[0], out[1]


@dataclass(frozen=True)
class _Field:
    """Where the LR field lies in the HR image: the HR crop around it (with a margin for the
    PSF and the shift), its corner, the shift that maps the LR grid onto its integer position
    (crop coordinates) and the overlap correlation."""

    crop: np.ndarray
    corner: tuple[int, int]
    offset_lr: tuple[int, int]
    base: tuple[float, float]
    score: float
    hr_shape: tuple[int, int]


@dataclass(frozen=True)
class _Options:
    """The choices of :func:`iter_fit` that its last step reads."""

    anisotropic: bool
    poisson: bool
    noise: str
    families: bool
    expected_scale: float | None


@dataclass(frozen=True)
class _Solution:
    """The refined non-linear parameters and what they were fitted on."""

    theta: np.ndarray
    bounds: tuple[list[float], list[float]]
    inner: tuple[slice, slice]
    nfev: int

    def widths_and_shift(self) -> tuple[float, float, float, float]:
        """(sigma_y, sigma_x, dy, dx) in crop coordinates."""
        if len(self.theta) == 4:
            sy, sx, dy, dx = (float(v) for v in self.theta)
            return sy, sx, dy, dx
        return (
            float(self.theta[0]),
            float(self.theta[0]),
            float(self.theta[1]),
            float(self.theta[2]),
        )


def iter_fit(
    hr: np.ndarray,
    lr: np.ndarray,
    scale: int,
    *,
    anisotropic: bool = False,
    poisson: bool = False,
    stop: StopLike = None,
    expected_scale: float | None = None,
    noise: str = "residual",
    families: bool = True,
) -> Generator[Progress, None, DegradationParams]:
    """Generator form of :func:`fit_degradation`: yields :class:`Progress`, returns the params."""
    should_stop = as_stop(stop)
    if noise not in NOISE_SOURCES:
        raise InputError(f"noise must be one of {NOISE_SOURCES}, got {noise!r}")
    s = int(scale)
    hr, lr = validate_pair(hr, lr, s)
    total = 5
    yield Progress(0, total, "registering the LR field inside the HR image")
    field = _locate(hr, lr, s)
    check_stop(should_stop)
    yield Progress(1, total, "sub-pixel shift by cross-correlation")
    # the blur is symmetric, so it does not bias the shift estimate
    sim0 = _simulate(field.crop, s, s / 2, s / 2, *field.base, lr.shape)
    sub_y, sub_x = subpixel_shift(lr, sim0)
    shift0 = (field.base[0] + s * sub_y, field.base[1] + s * sub_x)
    yield Progress(2, total, "coarse PSF width")
    sigma0 = _coarse_sigma(field.crop, lr, s, shift0, should_stop)
    yield Progress(3, total, "refining PSF width and shift")
    solution = _refine(field.crop, lr, s, sigma0, shift0, anisotropic, should_stop)
    check_stop(should_stop)
    yield Progress(4, total, "noise and residual statistics")
    options = _Options(anisotropic, poisson, noise, families, expected_scale)
    params = yield from _diagnose(field, lr, s, solution, options, should_stop, total)
    yield Progress(5, total, "done")
    return params


def _locate(hr: np.ndarray, lr: np.ndarray, s: int) -> _Field:
    """The integer offset of the LR field inside the HR field, found at LR resolution."""
    ny, nx = hr.shape
    hr_low = _simulate(hr, s, s / 2, s / 2, 0.0, 0.0, (ny // s, nx // s))
    oy, ox, score = integer_offset(hr_low, lr)
    if score < 0.2:
        raise InputError(
            f"the LR and HR fields do not overlap (best correlation {score:.2f} < 0.2): are "
            "they images of the same field, at this scale?"
        )
    my, mx = lr.shape
    margin = int(math.ceil(4 * SIGMA_BOUNDS[1] + 2 * s))
    cy0, cx0 = max(s * oy - margin, 0), max(s * ox - margin, 0)
    cy1, cx1 = min(s * (oy + my) + margin, ny), min(s * (ox + mx) + margin, nx)
    base = (float(-(s * oy - cy0)), float(-(s * ox - cx0)))
    return _Field(hr[cy0:cy1, cx0:cx1], (cy0, cx0), (oy, ox), base, score, (ny, nx))


def _residual_fn(crop, lr, s, reach, shift0, should_stop):
    """The residual of the model over the LR pixels whose footprint (block, PSF reach up to
    ``reach``, shift range) lies inside the HR crop: elsewhere the simulation sees the
    mirrored boundary, not real data. The region is fixed for each optimisation (a cost must
    not change its data)."""
    inner = _inner_region(lr.shape, crop.shape, s, reach, shift0)
    lr_in = lr[inner]

    def resid(theta: np.ndarray) -> np.ndarray:
        check_stop(should_stop)
        sy, sx, dy, dx = (theta[0], theta[0], theta[1], theta[2]) if len(theta) == 3 else theta
        sim = _simulate(crop, s, sy, sx, dy, dx, lr.shape)[inner]
        g, o = _linear_fit(sim, lr_in)
        return (lr_in - g * sim - o).ravel()

    return resid, inner


def _coarse_sigma(crop, lr, s, shift0, should_stop) -> float:
    """The PSF width by a grid search at the cross-correlation shift, ascending and stopping
    once the cost has risen twice past its minimum: the wide (costly) kernels are only tried
    when the narrow ones keep improving."""
    resid, _ = _residual_fn(crop, lr, s, 4.0, shift0, should_stop)
    costs: list[float] = []
    for sg in _SIGMA_GRID:
        costs.append(float(np.sum(resid(np.array([sg, *shift0])) ** 2)))
        if len(costs) - 1 - int(np.argmin(costs)) >= 2:
            break
    return _SIGMA_GRID[int(np.argmin(costs))]


def _refine(crop, lr, s, sigma0, shift0, anisotropic, should_stop) -> _Solution:
    """Joint least-squares refinement of the width(s) and shift on the region the coarse
    width allows; again on a smaller region while the refined width reaches further."""
    from scipy.optimize import least_squares

    lo, hi = SIGMA_BOUNDS
    dy0, dx0 = shift0
    widths = [sigma0, sigma0] if anisotropic else [sigma0]
    theta = np.array([*widths, dy0, dx0])
    bounds = ([lo] * len(widths) + [dy0 - s, dx0 - s], [hi] * len(widths) + [dy0 + s, dx0 + s])
    reach, nfev = 1.25 * sigma0, 0
    for _ in range(3):
        resid, inner = _residual_fn(crop, lr, s, reach, shift0, should_stop)
        sol = least_squares(resid, theta, bounds=bounds, diff_step=1e-3, xtol=1e-6)
        theta, nfev = sol.x, nfev + int(sol.nfev)
        sigma_max = float(np.max(theta[:-2]))
        if sigma_max <= reach:
            break
        reach = 1.25 * sigma_max
    return _Solution(theta, bounds, inner, nfev)


def _diagnose(field, lr, s, solution, options, should_stop, total):
    """Intensity mapping, noise and residual diagnostics of the refined fit; yields while it
    compares PSF families, returns the :class:`DegradationParams`."""
    sy, sx, dy, dx = solution.widths_and_shift()
    lr_in = lr[solution.inner]
    sim = _simulate(field.crop, s, sy, sx, dy, dx, lr.shape)[solution.inner]
    gain, offset = _linear_fit(sim, lr_in)
    residual = lr_in - gain * sim - offset
    stats = residual_stats(residual, len(solution.theta) + 2)
    noise_var = stats["residual_std"] ** 2
    lr_var = float(np.var(lr_in))
    explained = 1.0 - float(np.var(residual)) / lr_var if lr_var > 0 else 0.0
    quality = _assess(field, s, solution, stats, explained, options.expected_scale)
    compared = None
    if options.families and stats["residual_lag1"] > LAG1_DOUBTFUL:  # what does the Gaussian miss?
        yield Progress(4, total, "comparing PSF families")
        sg, stop_now = math.sqrt(sy * sx), lambda: check_stop(should_stop)
        compared = compare_psf_families(field.crop, lr, s, sg, dy, dx, stop_now)
        if compared.better:
            quality = quality.worse(quality.verdict, compared.reason())
    poisson_a = None
    if options.poisson:
        poisson_a, noise_var = _fit_poisson_gaussian(gain * sim, residual, noise_var)
    own = _own_noise(lr_in, False)  # the capture's own noise, as one variance
    mismatch = _mismatch(stats["residual_std"], own, options.noise)
    if mismatch:
        quality = quality.worse(quality.verdict, mismatch)
    if options.noise == "image" and own is not None:
        noise_var, poisson_a = (_own_noise(lr_in, True) or own) if options.poisson else own
    notes = {
        "lr_offset_in_hr_lr_px": list(field.offset_lr),
        "overlap_correlation": field.score,
        "fitted_region_lr_px": [[r.start, r.stop] for r in solution.inner],
        "optimizer_evaluations": solution.nfev,
        "lr_shape": list(lr.shape),
        "hr_shape": list(field.hr_shape),
        "explained_variance": explained,
        "lr_image_noise_std": None if own is None else math.sqrt(own[0]),
        "noise_from": options.noise if own is not None else "residual",
        "quality": quality.as_dict(),
        "psf_families_residual_std": compared and compared.residual_std,
    }
    cy0, cx0 = field.corner
    return DegradationParams(
        scale=s,
        sigma=math.sqrt(sy * sx),
        sigma_y=sy if options.anisotropic else None,
        sigma_x=sx if options.anisotropic else None,
        noise_var=noise_var,
        poisson_a=poisson_a,
        shift_yx=(dy - cy0, dx - cx0),
        gain=gain,
        offset=offset,
        residual_std=stats["residual_std"],
        residual_lag1=stats["residual_lag1"],
        source="fit",
        notes=notes,
    )


def _mismatch(residual_std: float, own, noise: str) -> str | None:
    """Why a residual far above the capture's own noise makes a poor noise model, or None."""
    ratio = residual_std / math.sqrt(own[0]) if own and own[0] > 0 else 0.0
    if ratio <= MISMATCH_RATIO:
        return None
    adds = "adds it as noise" if noise == "residual" else "adds the image's own noise"
    return (
        f"the residual is {ratio:.1f} times the LR image's own noise: mostly structure the "
        f"model does not explain; training on this fit {adds}"
    )


def _assess(field, s, solution, stats, explained, expected_scale):
    """The fit's verdict from its figures (:func:`.quality.assess_fit`)."""
    sy, sx, _, _ = solution.widths_and_shift()
    shift_bounds = np.array(solution.bounds)[:, -2:]
    at_bound = bool(np.any(np.isclose(solution.theta[-2:], shift_bounds, atol=1e-3 * s)))
    return assess_fit(
        sigma=max(sy, sx),
        sigma_bounds=SIGMA_BOUNDS,
        explained=explained,
        lag1=stats["residual_lag1"],
        correlation=field.score,
        shift_at_bound=at_bound,
        scale=s,
        expected_scale=expected_scale,
    )


def _own_noise(lr: np.ndarray, poisson: bool) -> tuple[float, float | None] | None:
    """The LR image's own noise (:func:`.noiselevel.estimate_noise`), None where it cannot tell."""
    from .noiselevel import estimate_noise

    try:
        return estimate_noise(lr, poisson=poisson)
    except InputError:
        return None


def _fit_poisson_gaussian(
    signal: np.ndarray, residual: np.ndarray, fallback_var: float, nbins: int = 24
) -> tuple[float, float]:
    """Fit ``var = a * signal + b`` to the residual variance in bins of the signal."""
    sig = signal.ravel()
    res2 = residual.ravel() ** 2
    edges = np.quantile(sig, np.linspace(0, 1, nbins + 1))
    idx = np.clip(np.searchsorted(edges, sig, side="right") - 1, 0, nbins - 1)
    counts = np.bincount(idx, minlength=nbins)
    keep = counts > 20
    mean_sig = np.bincount(idx, sig, nbins)[keep] / counts[keep]
    mean_var = np.bincount(idx, res2, nbins)[keep] / counts[keep]
    if keep.sum() < 3 or np.ptp(mean_sig) == 0:
        return 0.0, fallback_var
    design = np.stack([mean_sig, np.ones_like(mean_sig)], axis=1)
    sw = np.sqrt(counts[keep].astype(np.float64))[:, None]
    (a, b), *_ = np.linalg.lstsq(design * sw, mean_var * sw[:, 0], rcond=None)
    return max(float(a), 0.0), max(float(b), 0.0)


def fit_degradation(
    hr: np.ndarray,
    lr: np.ndarray,
    scale: int,
    *,
    anisotropic: bool = False,
    poisson: bool = False,
    stop: StopLike = None,
    progress=None,
    expected_scale: float | None = None,
    noise: str = "residual",
    families: bool = True,
) -> DegradationParams:
    """Fit ``LR = gain * D_s(K_sigma * T_shift(HR)) + offset + noise`` to a real pair.

    Parameters
    ----------
    hr, lr : numpy.ndarray
        2D images of the same field; ``lr`` about ``scale`` times smaller, not registered.
    scale : int
        Integer scale between the two pixel grids.
    anisotropic : bool
        Fit ``sigma_y`` and ``sigma_x`` separately.
    poisson : bool
        Fit Poisson-Gaussian noise ``var = a * signal + b`` (``poisson_a`` and ``noise_var``).
    stop : callable or threading.Event, optional
        Cancels the fit (raises :class:`~napari_sisr.core.progress.Cancelled`).
    progress : callable, optional
        Called with each :class:`~napari_sisr.core.progress.Progress` update.
    expected_scale : float, optional
        The scale the images' pixel sizes give; a fit at a contradicting ``scale`` fails.
    noise : {"residual", "image"}
        Where the noise comes from: the variance of the fit's residual (the default), or the
        LR image's own noise, estimated from the image alone (the camera's physical noise;
        falls back to the residual where the image is too clipped). Both are kept
        (``residual_std``, ``notes["lr_image_noise_std"]``). Training on real pairs did better
        with the residual's noise, also where it is mostly model mismatch (the verdict says).
    families : bool
        Where the residual is far from white, compare other PSF families and name a better
        one in the verdict (:mod:`.families`); off where only the Gaussian fit is wanted.

    Returns
    -------
    DegradationParams
        With ``source="fit"``, residual diagnostics, and the verdict on the fit in
        ``notes["quality"]`` (``{"verdict": "ok" | "doubtful" | "failed", "reasons": [...]}``,
        see :mod:`napari_sisr.core.degradation.quality`).
    """
    options = dict(anisotropic=anisotropic, poisson=poisson, expected_scale=expected_scale)
    gen = iter_fit(hr, lr, scale, stop=stop, noise=noise, families=families, **options)
    return run_to_end(gen, progress)


__all__ += ["Cancelled"]
