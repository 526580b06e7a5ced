"""Noise level of a single image from weak-texture patches.

The image is cut into small overlapping ``p x p`` patches. Image structure occupies few patch
directions, white noise all of them equally, so the noise variance is the variance along the
patch direction that carries the least signal: the eigenvector of the patch covariance with the
smallest eigenvalue. Two refinements make the estimate unbiased on real images:

* **Weak-texture patches.** Only patches whose gradient energy is what noise of the current
  estimate would produce (below its 99.9 % quantile, from a moment-matched gamma law) enter the
  covariance; the estimate is iterated with the selection (after Liu, Tanaka & Okutomi 2013).
* **Cross-validation.** The smallest eigenvalue of a sample covariance is biased low (it is the
  minimum of noisy estimates). The direction is therefore taken from one half of the image and
  the variance measured along it on the other half (and vice versa), with a gap of ``p`` rows so
  that the halves share no pixel.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import InputError, InputTypeError

__all__ = ["estimate_noise", "patch_noise_variance", "patch_stats"]

#: Intensity bins of the Poisson-Gaussian noise estimate.
_POISSON_BINS = 8


#: Quantile of the pure-noise texture law below which a patch counts as weakly textured.
TEXTURE_QUANTILE = 0.999
#: At most this many patches per half image enter a covariance (a regular sub-grid).
MAX_PATCHES = 40_000
#: Number of least-signal patch directions the variance is averaged over.
N_DIRECTIONS = 3


def _box2(n: int) -> np.ndarray:
    """Matrix of the 2 x 2 box mean on an ``n x n`` patch (valid part, ``(n-1)^2`` outputs)."""
    idx = np.arange(n * n).reshape(n, n)
    b = np.zeros(((n - 1) ** 2, n * n))
    for r, (i, j) in enumerate(np.ndindex(n - 1, n - 1)):
        b[r, idx[i : i + 2, j : j + 2].ravel()] = 0.25
    return b


def _diff(n: int) -> np.ndarray:
    """Matrix of the forward differences (down and right) on an ``n x n`` patch."""
    idx = np.arange(n * n).reshape(n, n)
    rows = []
    for a, b in ((idx[1:, :], idx[:-1, :]), (idx[:, 1:], idx[:, :-1])):
        for i, j in zip(a.ravel(), b.ravel(), strict=True):
            r = np.zeros(n * n)
            r[i], r[j] = 1.0, -1.0
            rows.append(r)
    return np.asarray(rows)


@lru_cache(maxsize=8)
def _texture_threshold(p: int) -> float:
    """Texture of a ``p x p`` patch of unit white noise at :data:`TEXTURE_QUANTILE`.

    The texture is the gradient energy of the 2 x 2 box mean of the patch, a quadratic form
    ``x^T M x``; its mean is ``tr M`` and its variance ``2 tr M^2``, and a gamma law with those
    moments gives the quantile.
    """
    from scipy.stats import gamma

    op = _diff(p - 1) @ _box2(p)
    m = op.T @ op
    mean, var = float(np.trace(m)), float(2.0 * np.trace(m @ m))
    return float(gamma.ppf(TEXTURE_QUANTILE, mean * mean / var, scale=var / mean))


def _box_sum(img: np.ndarray, hy: int, hx: int) -> np.ndarray:
    """Sums over every ``hy x hx`` window (valid positions)."""
    c = np.zeros((img.shape[0] + 1, img.shape[1] + 1))
    c[1:, 1:] = img.cumsum(0).cumsum(1)
    return c[hy:, hx:] - c[:-hy, hx:] - c[hy:, :-hx] + c[:-hy, :-hx]


def patch_stats(
    img: np.ndarray, p: int, clip: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patches, their texture and their mean, on a regular grid of positions.

    Returns ``(patches (n, p*p - 1), texture (n,), mean (n,))`` for a sub-grid of at most
    :data:`MAX_PATCHES` patch positions of ``img``; the patches are expressed in an orthonormal
    basis of the zero-mean patches (white noise keeps its variance in every direction of it).
    Patches with a pixel at or beyond ``clip = (low, high)`` are left out: clipped or
    saturated pixels carry no noise.
    """
    ny, nx = img.shape[0] - p + 1, img.shape[1] - p + 1
    step = max(1, int(np.ceil(np.sqrt(ny * nx / MAX_PATCHES))))
    keep = np.ones((ny, nx), bool)[::step, ::step].ravel()
    if clip is not None:
        clipped = ((img <= clip[0]) | (img >= clip[1])).astype(np.float64)
        keep = (_box_sum(clipped, p, p)[::step, ::step] < 0.5).ravel()
    win = sliding_window_view(img, (p, p))[::step, ::step]
    # Texture from the 2 x 2 box mean: blind to the finest (checkerboard) pattern, where the
    # noise is measured, so selecting patches by texture does not select low noise there.
    sm = 0.25 * (img[:-1, :-1] + img[1:, :-1] + img[:-1, 1:] + img[1:, 1:])
    texture = (
        _box_sum(np.diff(sm, axis=0) ** 2, p - 2, p - 1)[:ny:step, :nx:step]
        + _box_sum(np.diff(sm, axis=1) ** 2, p - 1, p - 2)[:ny:step, :nx:step]
    )
    patches = win.reshape(-1, p * p)[keep]
    texture = texture.ravel()[keep]
    basis = _zero_mean_basis(p * p)
    projected = np.empty((len(patches), basis.shape[1]))
    for i in range(0, len(patches), 64):  # small products: see _rows_matmul
        projected[i : i + 64] = patches[i : i + 64] @ basis
    return projected, texture, patches.mean(axis=1)


@lru_cache(maxsize=8)
def _zero_mean_basis(n: int) -> np.ndarray:
    """Orthonormal basis ``(n, n - 1)`` of the vectors with zero sum.

    Patches are projected on it so that their mean (which the Poisson-Gaussian estimate bins
    on, and which varies little inside a bin) never becomes the least-signal direction.
    """
    u, _, _ = np.linalg.svd(np.eye(n) - 1.0 / n)
    return u[:, : n - 1]


def _rows_matmul(a: np.ndarray, b: np.ndarray, rows: int = 64) -> np.ndarray:
    """``a.T @ b`` for tall ``a`` and ``b``, summed over blocks of ``rows`` rows.

    Each block product is small enough for BLAS to run it on one thread: the whole product is
    tiny work, and on a machine whose cores are busy, multi-threaded BLAS spends far longer
    waiting for its threads than computing.
    """
    out = np.zeros((a.shape[1], b.shape[1]))
    for i in range(0, a.shape[0], rows):
        out += a[i : i + rows].T @ b[i : i + rows]
    return out


def _cov(x: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=0)
    return _rows_matmul(xc, xc) / max(len(x) - 1, 1)


def _cross_validated(pa: np.ndarray, pb: np.ndarray) -> float:
    """Variance along the least-signal directions of one half, measured on the other half."""
    out = []
    for fit_on, test_on in ((pa, pb), (pb, pa)):
        _, vecs = np.linalg.eigh(_cov(fit_on))
        v = vecs[:, :N_DIRECTIONS]
        out.append(float(np.mean(np.einsum("ik,ij,jk->k", v, _cov(test_on), v))))
    return 0.5 * (out[0] + out[1])


def patch_noise_variance(
    half_a: tuple[np.ndarray, np.ndarray],
    half_b: tuple[np.ndarray, np.ndarray],
    p: int,
    iters: int = 8,
) -> tuple[float, int]:
    """Noise variance from the ``(patches, texture)`` of two disjoint image halves.

    Returns ``(variance, patches used)``; ``patches used`` is 0 when too few patches remain.
    """
    (pa, ta), (pb, tb) = half_a, half_b
    need = 10 * p * p
    if min(len(pa), len(pb)) < need:
        return float("nan"), 0
    thr = _texture_threshold(p)
    sel_a = np.ones(len(pa), bool)
    sel_b = np.ones(len(pb), bool)
    var = _cross_validated(pa, pb)
    for _ in range(iters):
        if not var > 0:
            break
        new_a, new_b = ta < var * thr, tb < var * thr
        if min(new_a.sum(), new_b.sum()) < need:
            break
        if np.array_equal(new_a, sel_a) and np.array_equal(new_b, sel_b):
            break
        sel_a, sel_b = new_a, new_b
        var = _cross_validated(pa[sel_a], pb[sel_b])
    return max(var, 0.0), int(sel_a.sum() + sel_b.sum())


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
