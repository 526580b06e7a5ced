"""Registration of an LR capture against an HR image at LR resolution.

Integer offsets come from the normalised cross-correlation over the overlap at every lag; the
sub-pixel remainder from the cross-correlation peak within a small window. Both are made robust
to repetitive content (periodic specimens, mirrored mosaics), which correlates almost as well
one period away.
"""

from __future__ import annotations

import numpy as np

__all__ = ["integer_offset", "ncc_surface", "subpixel_shift"]

#: Correlations within this of the best count as ties (resolved by overlap, then distance).
TIE_TOLERANCE = 0.05
#: Gaussian smoothing (LR pixels) of both images before the integer registration.
REG_SMOOTH = 1.0
#: Correlation peaks closer than this (LR pixels) to a higher one are part of it.
PEAK_RADIUS = 3


def ncc_surface(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlation coefficient of ``b`` against ``a`` at every integer translation.

    The coefficient is computed over the overlap of the two images at each lag (means and
    variances of the overlapping parts, all by FFT), so a partial overlap cannot score above 1.
    Returns ``(score, area)`` indexed by the lag ``k`` (modulo the padded size) with
    ``b[i] ~ a[i + k]``; lags whose overlap is under half of the smaller image score ``-inf``.
    """
    a = (a - a.mean()) / a.std()
    b = (b - b.mean()) / b.std()
    from scipy.fft import next_fast_len

    py = next_fast_len(a.shape[0] + b.shape[0], real=True)
    px = next_fast_len(a.shape[1] + b.shape[1], real=True)

    def f(x):
        return np.fft.rfft2(x, (py, px))

    def corr(fx, fy):  # sum_i x[i + k] * y[i] for every lag k
        return np.fft.irfft2(fx * np.conj(fy), (py, px))

    fa, fa2, f1a = f(a), f(a * a), f(np.ones_like(a))
    fb, fb2, f1b = f(b), f(b * b), f(np.ones_like(b))
    area = np.maximum(np.round(corr(f1a, f1b)), 1.0)
    sa, sb = corr(fa, f1b), corr(f1a, fb)
    cov = corr(fa, fb) - sa * sb / area
    var_a = corr(fa2, f1b) - sa * sa / area
    var_b = corr(f1a, fb2) - sb * sb / area
    denom = np.sqrt(np.clip(var_a * var_b, 1e-12 * area * area, None))
    min_area = 0.5 * min(a.size, b.size)
    return np.where(area > min_area, cov / denom, -np.inf), area


def integer_offset(hr_low: np.ndarray, lr: np.ndarray) -> tuple[int, int, float]:
    """Integer LR-pixel offset of ``lr`` inside ``hr_low`` by normalised cross-correlation.

    Returns ``(oy, ox, score)`` with ``lr[i, j] ~ hr_low[i + oy, j + ox]`` and the correlation
    coefficient over the overlap there.
    """
    from scipy.ndimage import gaussian_filter, maximum_filter

    # Smoothing both by about one LR pixel makes a half-pixel misregistration cost little
    # correlation, so that the true offset wins the near-tie test below over look-alikes.
    a = gaussian_filter(hr_low, REG_SMOOTH, mode="reflect")
    b = gaussian_filter(lr, REG_SMOOTH, mode="reflect")
    score, area = ncc_surface(a, b)
    py, px = score.shape
    best = float(score.max())
    # Repetitive content (a periodic specimen, a mirrored mosaic) correlates almost as well at
    # other offsets: among near-tied peaks prefer the largest overlap, then the smallest
    # offset. Only peaks (local maxima) compete, not the neighbours of the best one.
    finite = np.where(np.isfinite(score), score, -2.0)
    peaks = maximum_filter(finite, size=2 * PEAK_RADIUS + 1, mode="wrap") == finite
    cand = np.argwhere(peaks & (score >= best - TIE_TOLERANCE))
    cy = np.where(cand[:, 0] < py - b.shape[0], cand[:, 0], cand[:, 0] - py)
    cx = np.where(cand[:, 1] < px - b.shape[1], cand[:, 1], cand[:, 1] - px)
    k = int(np.lexsort((np.abs(cy) + np.abs(cx), -area[cand[:, 0], cand[:, 1]]))[0])
    return int(cy[k]), int(cx[k]), float(score[cand[k, 0], cand[k, 1]])


def subpixel_shift(ref: np.ndarray, mov: np.ndarray, max_shift: int = 2) -> tuple[float, float]:
    """Small shift ``(dy, dx)`` in pixels with ``ref(y, x) ~ mov(y - dy, x - dx)``.

    The cross-correlation peak is searched only within ``max_shift`` pixels (the integer
    registration has already been done), so repetitive content cannot pull it a period away;
    a parabola through the peak and its neighbours gives the sub-pixel part.
    """
    a = ref - ref.mean()
    b = mov - mov.mean()
    py, px = a.shape[0] + b.shape[0], a.shape[1] + b.shape[1]
    cc = np.fft.irfft2(np.fft.rfft2(a, (py, px)) * np.conj(np.fft.rfft2(b, (py, px))), (py, px))
    m = int(max_shift) + 1
    lags = np.arange(-m, m + 1)
    win = cc[np.ix_(lags % py, lags % px)]
    inner = win[1:-1, 1:-1]
    iy, ix = np.unravel_index(int(np.argmax(inner)), inner.shape)
    iy, ix = iy + 1, ix + 1

    def vertex(cm: float, c0: float, cp: float) -> float:
        den = cm - 2.0 * c0 + cp
        return 0.0 if den >= 0 else float(np.clip(0.5 * (cm - cp) / den, -0.5, 0.5))

    dy = lags[iy] + vertex(win[iy - 1, ix], win[iy, ix], win[iy + 1, ix])
    dx = lags[ix] + vertex(win[iy, ix - 1], win[iy, ix], win[iy, ix + 1])
    return float(dy), float(dx)
