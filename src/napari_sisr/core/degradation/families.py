"""Which PSF family explains a real pair best, when the Gaussian fit leaves structure behind.

A fit's residual far from white noise says that a Gaussian PSF (and white noise) misses
something. This module asks what: the fitted pair is explained again with

* the **Gaussian** of the fit (the reference),
* an **Airy disc** (``(2 J1(x) / x)^2``, the in-focus PSF of a circular pupil), its width
  searched,
* a **free-form kernel**: any kernel of the fit's reach, estimated by regularised least
  squares (conjugate gradients on the normal equations, a small gradient penalty),

each alone and with a **smooth background** (a bilinear field on a 4 x 4 grid: out-of-focus
haze, uneven illumination, a background that one capture holds and the other removed). Every
family is fitted on half of the LR pixels (a checkerboard of 16 x 16 blocks) and scored on
the other half, then the halves are swapped, so that a family with more parameters wins only
by explaining pixels it was not fitted to. The gain and the offset are fitted with each.

All families run through one forward model, ``LR[i, j] = (C * k)[s i - dy, s j - dx]``, with
``C`` the HR image averaged over each ``s x s`` window, ``k`` the kernel on the HR grid
centred at the fit's sub-pixel shift: the same model as the fit, with the kernel free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

__all__ = ["FamilyScores", "compare_psf_families", "BETTER_RATIO", "WHAT"]

#: A family "fits better" when its held-out residual variance is at most this fraction of
#: the Gaussian's (it explains at least a fifth of what the Gaussian leaves).
BETTER_RATIO = 0.8
_BLOCK = 16  # LR px: the checkerboard's blocks
_GRID = 4  # control points of the smooth background per axis
_CG_ITERS = 60
_MAX_LR = 128  # LR px a side: the central window compared
_MAX_HR = 768  # its HR side after binning, at most (a scale of 7 cannot be binned)
GAUSSIAN, AIRY, FREE = "Gaussian PSF", "Airy disc", "free-form kernel"
BACKGROUND = " with a smooth background"
#: What each family says about the microscope, for the verdict.
WHAT = {
    AIRY: "an in-focus, diffraction-limited PSF",
    GAUSSIAN + BACKGROUND: "haze or uneven background that one capture holds and the other not",
    FREE: "a PSF that is not Gaussian: wings, asymmetry, aberrations",
    FREE + BACKGROUND: "a PSF that is not Gaussian, and haze or uneven background",
}


@dataclass(frozen=True)
class FamilyScores:
    """Held-out residual std (LR units) of each family (none where the pair is too small)."""

    residual_std: dict[str, float]

    def fitting_better(self) -> list[str]:
        """The families that fit better than the Gaussian PSF (see :data:`BETTER_RATIO`),
        best first."""
        ref = self.residual_std.get(GAUSSIAN)
        if ref is None:
            return []
        better = [
            name
            for name, std in self.residual_std.items()
            if name != GAUSSIAN and std**2 <= BETTER_RATIO * ref**2
        ]
        return sorted(better, key=self.residual_std.get)

    @property
    def better(self) -> str | None:
        """The family that fits best, where one fits better than the Gaussian PSF."""
        return next(iter(self.fitting_better()), None)

    def reason(self) -> str | None:
        """The verdict's sentence naming the better family, or ``None``."""
        names = self.fitting_better()
        if not names:
            return None
        best, ref = names[0], self.residual_std[GAUSSIAN]
        ratios = ", ".join(f"{name} {self.residual_std[name] / ref:.2f}" for name in names)
        return (
            f"the pair is explained better by a {best} ({WHAT[best]}; held-out "
            f"residual relative to the Gaussian PSF's: {ratios}): a simulation from this fit "
            "stays Gaussian, training on the pair itself (paired mode: train --lr, or the "
            "Train widget's paired LR) learns the real degradation"
        )


class _Forward:
    """``k -> (C * k)`` sampled on the LR grid, and its adjoint, by FFT."""

    def __init__(self, hr: np.ndarray, s: int, dy: float, dx: float, lr_shape, radius: int):
        c = _box_mean(hr, s)
        self.r = radius
        self.iy, self.ix = math.floor(dy), math.floor(dx)
        self.fy, self.fx = dy - self.iy, dx - self.ix
        k = 2 * radius + 1
        # the "full" convolution, padded to a size the FFT is fast at (awkward sizes ran 3x
        # slower); the padding holds zeros, so nothing wraps around onto the pixels used
        self.shape = tuple(sfft.next_fast_len(n + k - 1, real=True) for n in c.shape)
        self.fc = sfft.rfft2(c, self.shape)
        # LR pixels whose every kernel tap reads inside C, and where they sit in "full"
        rows = s * np.arange(lr_shape[0]) - self.iy + radius
        cols = s * np.arange(lr_shape[1]) - self.ix + radius
        ok_r = (rows >= 2 * radius) & (rows <= c.shape[0] - 1)
        ok_c = (cols >= 2 * radius) & (cols <= c.shape[1] - 1)
        self.lr_rows, self.lr_cols = np.flatnonzero(ok_r), np.flatnonzero(ok_c)
        self.rows, self.cols = rows[ok_r], cols[ok_c]

    def __call__(self, kernel: np.ndarray) -> np.ndarray:
        full = sfft.irfft2(self.fc * sfft.rfft2(kernel, self.shape), self.shape)
        return full[np.ix_(self.rows, self.cols)]

    def adjoint(self, resid: np.ndarray) -> np.ndarray:
        spread = np.zeros(self.shape)
        spread[np.ix_(self.rows, self.cols)] = resid
        corr = sfft.irfft2(np.conj(self.fc) * sfft.rfft2(spread), self.shape)
        k = 2 * self.r + 1
        return corr[:k, :k]

    def centred(self, profile) -> np.ndarray:
        """A kernel ``profile(ry, rx)`` (HR px from its centre) at the fit's sub-pixel shift,
        averaged over 3 x 3 points of each pixel, normalised to sum 1."""
        u = np.arange(-self.r, self.r + 1, dtype=float)
        sub = (np.arange(3) - 1) / 3
        total = np.zeros((u.size, u.size))
        for ay in sub:
            for ax in sub:
                total += profile((u - self.fy + ay)[:, None], (u - self.fx + ax)[None, :])
        return total / total.sum()


def _box_mean(a: np.ndarray, s: int) -> np.ndarray:
    """``C[y, x] = mean(a[y:y+s, x:x+s])`` (the window starting at each pixel)."""
    c = np.cumsum(np.cumsum(np.pad(a, ((1, 0), (1, 0))), axis=0), axis=1)
    return (c[s:, s:] - c[:-s, s:] - c[s:, :-s] + c[:-s, :-s]) / (s * s)


def _background_basis(shape) -> np.ndarray:
    """Bilinear 'tent' functions on a ``_GRID x _GRID`` grid: ``(_GRID**2, *shape)``."""

    def tents(n: int) -> np.ndarray:
        knots = np.linspace(0, n - 1, _GRID)
        step = knots[1] - knots[0] if _GRID > 1 else 1.0
        x = np.arange(n)[None, :]
        return np.clip(1 - np.abs(x - knots[:, None]) / step, 0, None)

    ty, tx = tents(shape[0]), tents(shape[1])
    return np.einsum("ay,bx->abyx", ty, tx).reshape(_GRID * _GRID, *shape)


def _lstsq_columns(cols: np.ndarray, lr: np.ndarray, fit: np.ndarray, test: np.ndarray):
    """Least squares of ``lr`` on ``cols`` (``(n, *shape)``) over ``fit``; residual on ``test``."""
    a = cols[:, fit].T
    coef, *_ = np.linalg.lstsq(a, lr[fit], rcond=None)
    return lr[test] - cols[:, test].T @ coef


def _free_form(fwd: _Forward, lr, extra, fit, test, start, stop_check):
    """Free-form kernel (+ the ``extra`` columns: offset, background) by conjugate gradients
    on the regularised normal equations over ``fit``; the residual on ``test``."""
    k = 2 * fwd.r + 1
    n_k, n_e = k * k, len(extra)
    w = fit.astype(float)
    scale = float(np.sqrt(np.mean(fwd(start)[fit] ** 2))) or 1.0
    lam = 1e-3 * float(fit.sum())  # the gradient penalty, against the data's sum of squares

    def apply(theta):
        kern = theta[:n_k].reshape(k, k) / scale
        return fwd(kern) + np.tensordot(theta[n_k:], extra, axes=1)

    def normal(theta):
        r = w * apply(theta)
        grad_k = fwd.adjoint(r).ravel() / scale
        grad_e = np.tensordot(extra, r, axes=((1, 2), (0, 1)))
        kern = theta[:n_k].reshape(k, k)
        lap = 4 * kern - sum(np.roll(kern, sh, ax) for sh in (1, -1) for ax in (0, 1))
        return np.concatenate([grad_k + lam * lap.ravel(), grad_e])

    b = np.concatenate([fwd.adjoint(w * lr).ravel() / scale, np.tensordot(extra, w * lr, 2)])
    x = np.concatenate([start.ravel() * scale, np.zeros(n_e)])
    r = b - normal(x)
    p, rr = r.copy(), float(r @ r)
    for _ in range(_CG_ITERS):
        stop_check()
        ap = normal(p)
        curvature = float(p @ ap)
        if rr == 0 or curvature <= 0:  # solved, or nothing left to explain
            break
        alpha = rr / curvature
        x += alpha * p
        r -= alpha * ap
        rr_new = float(r @ r)
        if rr_new < 1e-12 * float(b @ b):
            break
        p, rr = r + (rr_new / rr) * p, rr_new
    return (lr - apply(x))[test]


def _reduce(hr, lr, s: int, sigma: float, dy: float, dx: float):
    """The pair on a central window of at most ``_MAX_LR`` LR px and ``_MAX_HR`` (binned) HR
    px a side, with the HR image binned by the largest power of two that leaves a scale of 2
    and a PSF of 1.5 px: the comparison costs about the same on any pair (the fit of a 477 x
    418 TIRF / STORM pair at 8x spent 400 s in it otherwise, and 60 s at scale 7, which no
    binning divides). Returns ``(hr, lr, s, sigma, dy, dx)``."""
    b = 1
    while s % (2 * b) == 0 and s // (2 * b) >= 2 and sigma / (2 * b) >= 1.5:
        b *= 2
    pad = int(math.ceil(3 * sigma)) + 2 + s  # HR px: the kernel's reach and a block
    window = []
    for n_lr, n_hr, d in zip(lr.shape, hr.shape, (dy, dx), strict=True):
        n = max(min(n_lr, _MAX_LR, (_MAX_HR * b - 2 * pad) // s), 1)
        i0 = (n_lr - n) // 2
        h0 = max(int(math.floor(s * i0 - d)) - pad, 0) // b * b
        h1 = min(int(math.ceil(s * (i0 + n) - d)) + pad, n_hr) // b * b
        window.append((slice(i0, i0 + n), slice(h0, h1), d + h0 - s * i0))
    (ly, hy, dy), (lx, hx, dx) = window
    hr = np.asarray(hr[hy, hx], float)
    if b > 1:
        hr = hr.reshape(hr.shape[0] // b, b, hr.shape[1] // b, b).mean(axis=(1, 3))
    return hr, lr[ly, lx], s // b, sigma / b, dy / b, dx / b


def compare_psf_families(
    hr: np.ndarray, lr: np.ndarray, s: int, sigma: float, dy: float, dx: float, stop_check
) -> FamilyScores:
    """Held-out residuals of each PSF family on the pair (see the module docstring).

    ``lr`` and ``hr`` as the fit took them, ``dy, dx`` the fitted shift of ``hr`` (HR px),
    ``sigma`` the fitted Gaussian width (HR px). The Gaussian's and the Airy disc's widths are
    searched around ``sigma`` (the comparison's sampling differs a little from the fit's),
    each scored by its held-out residual: a small optimism that both share.
    """
    from scipy.special import j1

    hr, lr, s, sigma, dy, dx = _reduce(hr, lr, s, sigma, dy, dx)
    radius = int(math.ceil(3 * sigma)) + 1
    fwd = _Forward(hr, s, dy, dx, lr.shape, radius)
    if len(fwd.lr_rows) < 2 * _BLOCK or len(fwd.lr_cols) < 2 * _BLOCK:
        return FamilyScores({})
    target = lr[np.ix_(fwd.lr_rows, fwd.lr_cols)].astype(float)
    yy, xx = np.indices(target.shape)
    halves = ((yy // _BLOCK + xx // _BLOCK) % 2).astype(bool)
    ones = np.ones((1, *target.shape))
    smooth = _background_basis(target.shape)  # its tents sum to one: it holds the offset

    def held_out(columns_of) -> float:
        err = []
        for test in (halves, ~halves):
            err.append(columns_of(~test, test))
        return float(np.sqrt(np.mean(np.concatenate(err) ** 2)))

    def family(kernel, extra):
        sim = fwd(kernel)[None]
        return held_out(
            lambda fit, test: _lstsq_columns(np.concatenate([sim, extra]), target, fit, test)
        )

    def gaussian(width):
        return fwd.centred(lambda y, x: np.exp(-(y * y + x * x) / (2 * width * width)))

    def airy(width):
        def profile(y, x):
            r = np.hypot(y, x) / width
            r = np.where(r == 0, 1e-9, r)
            return (2 * j1(r) / r) ** 2

        return fwd.centred(profile)

    near = np.geomspace(0.8, 1.25, 5)
    scores = {}
    scores[GAUSSIAN], sg = min((family(gaussian(w), ones), w) for w in sigma * near)
    gauss = gaussian(sg)
    stop_check()
    # the Gaussian closest to an Airy disc of width w has sigma 1.32 w: search around the fit
    widths = sigma / 1.32 * np.geomspace(0.5, 2.0, 9)
    scores[AIRY] = min(family(airy(wd), ones) for wd in widths)
    stop_check()
    scores[GAUSSIAN + BACKGROUND] = family(gauss, smooth)
    for name, extra in ((FREE, ones), (FREE + BACKGROUND, smooth)):
        scores[name] = held_out(
            lambda fit, test, extra=extra: _free_form(
                fwd, target, extra, fit, test, gauss, stop_check
            )
        )
    return FamilyScores(scores)
