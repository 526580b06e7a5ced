"""Real pairs whose pixel sizes are not an integer ratio apart.

The degradation model needs an integer scale ``s`` between the HR and LR grids. A real pair
rarely has one: a STORM rendering and a TIRF frame, or two objectives, are some ``r`` HR pixels
per LR pixel with ``r`` like 7.31. The HR image is then resampled by ``s / r`` (spline
interpolation, anti-aliased when shrinking) onto a grid exactly ``s`` times finer than the LR
one, and the model is fitted on that grid. ``r`` comes from the pixel sizes when they are known
(``r = lr_pixel / hr_pixel``), or is estimated here by registering the two images at a range of
candidate ratios.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..progress import Progress, StopLike, run_to_end
from .fit import iter_fit
from .params import DegradationParams

__all__ = [
    "PairFit",
    "block_mean",
    "estimate_ratio",
    "fit_pair",
    "iter_fit_pair",
    "needs_resampling",
    "parse_ratio",
    "resample_hr",
]


#: HR pixels per LR pixel a pair may have (a microscope pair is within these): above
#: MIN_RATIO (an "HR" image no finer than the LR capture is no super-resolution pair) and
#: at most MAX_RATIO.
MIN_RATIO, MAX_RATIO = 1.0, 64.0


def resample_hr(hr: np.ndarray, ratio: float, scale: int) -> np.ndarray:
    """Resample an HR plane with ``ratio`` HR pixels per LR pixel to exactly ``scale``.

    Parameters
    ----------
    hr : numpy.ndarray
        2D HR image.
    ratio : float
        HR pixels per LR pixel of the pair as acquired (e.g. 7.31).
    scale : int
        Integer scale wanted; the output has ``scale`` pixels per LR pixel.

    Returns
    -------
    numpy.ndarray
        float64 image zoomed by ``scale / ratio`` (cubic spline; Gaussian pre-filter of
        ``0.5 * ratio / scale`` pixels when shrinking, against aliasing).
    """
    from scipy import ndimage

    ratio = parse_ratio(float(ratio))  # the same bounds and message as every front end
    hr = np.asarray(hr, dtype=np.float64)
    if hr.ndim != 2:
        raise InputError(f"expected a 2D HR image, got shape {hr.shape}")
    zoom = scale / ratio
    from ..io.guard import check_whole_read

    check_whole_read([round(n * zoom) for n in hr.shape], np.float64, "the resampled HR image")
    if abs(zoom - 1) < 1e-9:
        return hr.copy()
    if zoom < 1:
        hr = ndimage.gaussian_filter(hr, 0.5 / zoom, mode="reflect")
    shape = tuple(max(1, round(n * zoom)) for n in hr.shape)
    zooms = [m / n for m, n in zip(shape, hr.shape, strict=True)]
    return ndimage.zoom(hr, zooms, order=3, mode="reflect", grid_mode=True)


def _ncc_at_ratio(hr_small: np.ndarray, factor: float, lr: np.ndarray, smooth: float) -> float:
    """Best correlation over translations of ``lr`` against ``hr_small`` zoomed by ``1/factor``."""
    from scipy import ndimage

    from .registration import ncc_surface

    shape = tuple(max(1, round(n / factor)) for n in hr_small.shape)
    zooms = [m / n for m, n in zip(shape, hr_small.shape, strict=True)]
    pre = ndimage.gaussian_filter(hr_small, 0.5 * factor, mode="reflect")
    low = ndimage.zoom(pre, zooms, order=1, mode="reflect", grid_mode=True)
    low = ndimage.gaussian_filter(low, smooth, mode="reflect")
    score, _ = ncc_surface(low, ndimage.gaussian_filter(lr, smooth, mode="reflect"))
    return float(score.max())


def estimate_ratio(
    hr: np.ndarray,
    lr: np.ndarray,
    lo: float | None = None,
    hi: float | None = None,
) -> tuple[float, float]:
    """Estimate how many HR pixels span one LR pixel, by registration.

    The HR image is shrunk to the LR pixel size at candidate ratios and correlated with the LR
    image over all translations; the ratio with the best correlation wins (coarse grid, then
    a finer one around the best, then a parabola through the three best points).

    Parameters
    ----------
    hr, lr : numpy.ndarray
        2D images of the same field.
    lo, hi : float, optional
        Search range; defaults to 0.85 and 1.15 times the ratio of the image sizes.

    Returns
    -------
    (ratio, correlation)
    """
    hr = np.asarray(hr, dtype=np.float64)
    lr = np.asarray(lr, dtype=np.float64)
    if hr.ndim != 2 or lr.ndim != 2:
        raise InputError(f"expected two 2D images, got {hr.shape} and {lr.shape}")
    guess = math.sqrt(hr.shape[0] * hr.shape[1] / (lr.shape[0] * lr.shape[1]))
    lo = 0.85 * guess if lo is None else lo
    hi = 1.15 * guess if hi is None else hi
    if not 0 < lo < hi:
        raise InputError(f"invalid ratio range {lo}..{hi}")
    # Work on an HR image pre-shrunk by an integer block mean to about the LR pixel size.
    block = max(1, int(lo))
    small = block_mean(hr, block)

    def score(r: float, smooth: float) -> float:
        return _ncc_at_ratio(small, r / block, lr, smooth)

    grid = np.linspace(lo, hi, 16)
    best = grid[int(np.argmax([score(r, 2.0) for r in grid]))]
    step = (hi - lo) / 15
    fine = np.linspace(best - step, best + step, 11)
    vals = np.array([score(r, 1.0) for r in fine])
    k = int(np.clip(np.argmax(vals), 1, len(fine) - 2))
    cm, c0, cp = vals[k - 1 : k + 2]
    den = cm - 2 * c0 + cp
    h = fine[1] - fine[0]
    ratio = fine[k] + (0.5 * h * (cm - cp) / den if den < 0 else 0.0)
    ratio = float(np.clip(ratio, fine[k - 1], fine[k + 1]))
    return ratio, float(score(ratio, 1.0))


def block_mean(img: np.ndarray, k: int) -> np.ndarray:
    """Means of ``k`` x ``k`` pixel blocks of a 2D image (a ragged edge is dropped): HR pixels
    integrated onto a grid ``k`` times coarser."""
    h, w = img.shape[0] // k * k, img.shape[1] // k * k
    return img[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))


def parse_ratio(value) -> float | str | None:
    """HR pixels per LR pixel as a user gives it, from any front end: ``None`` or empty text
    (the pair is exactly ``scale`` apart), ``"auto"`` (any case: estimated by registration),
    or a number (also as text) above 1 and at most 64.

    Raises :class:`InputError` naming "HR px per LR px" and the bounds.
    """
    if isinstance(value, str):
        value = value.strip().lower() or None
    if value is None or value == "auto":
        return value
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        ratio = float("nan")
    if not (math.isfinite(ratio) and MIN_RATIO < ratio <= MAX_RATIO):
        raise InputError(
            f"HR px per LR px must be a number above {MIN_RATIO:g} and at most {MAX_RATIO:g}, "
            f"'auto' or empty, got {value!r}"
        )
    return ratio


def needs_resampling(ratio: float | None, scale: int) -> bool:
    """Whether ``ratio`` HR pixels per LR pixel differ from the integer ``scale``."""
    return ratio is not None and abs(ratio - scale) > 1e-6 * scale


@dataclass(frozen=True)
class PairFit:
    """A real pair's fit: the parameters, and the HR plane they refer to (the HR image itself,
    or resampled to exactly ``scale`` HR pixels per LR pixel, as ``params.notes`` say)."""

    params: DegradationParams
    hr: np.ndarray


def iter_fit_pair(
    hr,
    lr,
    scale: int,
    *,
    ratio: float | str | None = None,
    expected_scale: float | None = None,
    stop: StopLike = None,
    **fit_options,
) -> Generator[Progress, None, PairFit]:
    """Fit the degradation of a real pair whose pixel ratio may not be the integer ``scale``.

    The one workflow behind ``napari-sisr fit``, the Fit widget and the demo. ``ratio``: HR
    pixels per LR pixel as acquired (a number, ``"auto"`` to estimate it by registration, or
    ``None`` for exactly ``scale``). Where it differs from ``scale`` the HR plane is resampled
    first (:func:`resample_hr`), the layers' ``expected_scale`` no longer applies, and
    ``params.notes["hr_resampled"]`` records the ratio, the zoom and, when estimated, the
    correlation that chose it. Other keywords go to :func:`~.fit.iter_fit`.
    """
    ratio = parse_ratio(ratio)
    hr_a, lr_a = np.asarray(hr), np.asarray(lr)
    found = None
    if ratio == "auto":
        yield Progress(0, 5, "estimating the HR / LR pixel ratio")
        ratio, found = estimate_ratio(hr_a, lr_a)
    resampled = needs_resampling(ratio, scale)
    if resampled:
        yield Progress(0, 5, f"resampling the HR image by {scale} / {ratio:.4g}")
        hr_a = resample_hr(hr_a, float(ratio), scale)
        expected_scale = None  # the pixel sizes describe the grid before resampling
    gen = iter_fit(hr_a, lr_a, scale, stop=stop, expected_scale=expected_scale, **fit_options)
    params = yield from gen
    if resampled:
        note = {"ratio": float(ratio), "zoom": scale / float(ratio)}
        params.notes["hr_resampled"] = note if found is None else {**note, "correlation": found}
    return PairFit(params, hr_a)


def fit_pair(hr, lr, scale: int, *, ratio=None, progress=None, **options) -> PairFit:
    """:func:`iter_fit_pair` run to its end (``progress`` called with each update)."""
    return run_to_end(iter_fit_pair(hr, lr, scale, ratio=ratio, **options), progress)
