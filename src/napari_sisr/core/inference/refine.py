"""Refinement against the capture: a result pushed towards reproducing the capture it came from.

A degradation-aware model told the PSF gives a result that, taken back through the microscope
(the PSF, the pixel's block mean, a gain and an offset), should give the capture again; it
does only approximately, because the network draws on what it learnt as much as on the
capture. Richardson-Lucy iterations through that forward model, *started from the result*,
move it towards the capture: each multiplies the image by the back-projected ratio of the
capture to its re-degraded self. The network supplies the start (its prior: edges, texture,
no noise); the iterations restore what the capture demands and the network held back. The
gain and offset are fitted between the re-degraded result and the capture, as the evidence
map does, so the result keeps its own intensity scale.

How many iterations is a property of the microscope and the model, not of one image: it is
chosen on a calibration pair (a capture and an HR image of the same field, e.g. the pair the
PSF was fitted on) by :func:`choose_refinement`, as Richardson-Lucy's iterations are. Too many
amplify the noise, as for Richardson-Lucy itself; 0 leaves the result as it is.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import InputError

__all__ = ["REFINE_ITERATIONS", "choose_refinement", "psf_width", "refine", "refine_plane"]

#: Iteration counts :func:`choose_refinement` tries (0: the result as it is).
REFINE_ITERATIONS = (0, 1, 2, 5, 10, 20, 40)
#: Most iterations one refinement may run.
MAX_ITERATIONS = 500
#: Largest result plane refined (HR pixels): the forward model runs on whole planes.
MAX_PIXELS = 8192 * 8192


class _Forward:
    """The degradation of one result plane: blur and block mean along each axis (sparse)."""

    def __init__(self, shape: tuple[int, int], lr_shape: tuple[int, int], s: int, sigma_yx):
        from ..degradation.simulate import axis_operator

        self.ay = axis_operator(shape[0], s, sigma_yx[0], n_lr=lr_shape[0])
        self.ax = axis_operator(shape[1], s, sigma_yx[1], n_lr=lr_shape[1])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray((self.ax @ (self.ay @ x).T).T)

    def back(self, r: np.ndarray) -> np.ndarray:
        return np.asarray((self.ax.T @ (self.ay.T @ r).T).T)


def psf_width(psf, scale: int) -> tuple[float, float]:
    """The PSF width (y, x) in HR px at ``scale`` from a width (HR px, one or per axis), a
    :class:`~napari_sisr.core.degradation.params.DegradationParams` or the path of its JSON
    (a fit made at another scale rescaled, as steering does)."""
    from ..degradation.params import DegradationParams

    if isinstance(psf, str | os.PathLike):
        psf = DegradationParams.load(psf)
    if isinstance(psf, DegradationParams):
        k = int(scale) / psf.scale
        return psf.sigma_yx[0] * k, psf.sigma_yx[1] * k
    try:
        sy, sx = (psf, psf) if np.isscalar(psf) else tuple(psf)
        ok = np.isfinite(sy) and np.isfinite(sx) and sy >= 0 and sx >= 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(
            f"the PSF is a width in HR px (0 or more), a degradation or its JSON, got {psf!r}"
        )
    return float(sy), float(sx)


def refine_plane(sr, lr, scale: int, psf, iterations: int) -> np.ndarray:
    """One result plane refined against its capture (module docstring).

    Parameters
    ----------
    sr : 2D array
        The result, ``scale`` times the capture (a few pixels more are cut off).
    lr : 2D array
        The capture it was made from.
    scale : int
    psf : float, (float, float), DegradationParams or path
        The PSF the model was steered with: a width in HR px, or a degradation (a fit, the
        beads', the optics'; its JSON) rescaled to ``scale`` (:func:`psf_width`).
    iterations : int
        Richardson-Lucy iterations (0: ``sr`` as it is).
    """
    return _iterates(sr, lr, scale, psf, (iterations,))[int(iterations)]


def _iterates(sr, lr, scale: int, psf, counts) -> dict[int, np.ndarray]:
    """The refined plane after each of ``counts`` iterations, from one run of the iterations
    (the count 40 continues from 20 rather than starting again)."""
    from ..evidence.tiled import check_shapes

    s = int(scale)
    sr, lr = np.asarray(sr, np.float64), np.asarray(lr, np.float64)
    check_shapes(sr.shape, lr.shape, s)
    for n in counts:
        if not 0 <= int(n) <= MAX_ITERATIONS:
            raise InputError(f"iterations must be 0 to {MAX_ITERATIONS}, got {n}")
    if not (np.isfinite(sr).all() and np.isfinite(lr).all()):
        raise InputError("the result or the capture holds NaN or infinite values")
    sr = sr[: lr.shape[0] * s, : lr.shape[1] * s]
    if sr.size > MAX_PIXELS:
        raise InputError(
            f"a result plane of {sr.shape[0]} x {sr.shape[1]} px is too large to refine "
            f"(at most {MAX_PIXELS:,} px): refine a crop"
        )
    wanted = sorted({int(n) for n in counts})
    out = {0: sr.copy()} if 0 in wanted else {}
    if wanted[-1] == 0:
        return out
    forward = _Forward(sr.shape, lr.shape, s, psf_width(psf, s))
    design = np.stack([forward(sr).ravel(), np.ones(lr.size)], 1)
    gain, offset = np.linalg.lstsq(design, lr.ravel(), rcond=None)[0]
    if not gain > 0:
        raise InputError(
            "the result, taken back through the PSF, does not follow the capture (its fitted "
            "gain is not positive): is it the result of this capture, at this scale?"
        )
    y = (lr - offset) / gain
    lo = min(float(sr.min()), float(y.min()))
    eps = 1e-3 * max(float(sr.max()) - lo, 1e-12)
    x, y = sr - lo + eps, y - lo + eps
    norm = np.maximum(forward.back(np.ones_like(y)), 1e-12)
    for i in range(1, wanted[-1] + 1):
        x = x * forward.back(y / np.maximum(forward(x), 1e-12)) / norm
        if i in wanted:
            out[i] = x + lo - eps
    return out


def refine(sr, lr, scale: int, psf, iterations: int) -> np.ndarray:
    """:func:`refine_plane` for a plane or a stack of them (leading axes first, the same in
    the result and the capture), in float32."""
    sr, lr = np.asarray(sr), np.asarray(lr)
    if sr.ndim < 2 or sr.ndim != lr.ndim or sr.shape[:-2] != lr.shape[:-2]:
        raise InputError(
            f"the result {sr.shape} and the capture {lr.shape} are not planes of one layout"
        )
    psf = psf_width(psf, scale)  # read once, not per plane
    planes = sr.reshape((-1, *sr.shape[-2:]))
    caps = lr.reshape((-1, *lr.shape[-2:]))
    out = [refine_plane(a, b, scale, psf, iterations) for a, b in zip(planes, caps, strict=True)]
    return np.stack(out).reshape((*sr.shape[:-2], *out[0].shape)).astype(np.float32)


def choose_refinement(
    sr, lr, hr, scale: int, psf, candidates=REFINE_ITERATIONS
) -> tuple[int, dict[int, float]]:
    """The iteration count that takes a calibration result closest to its HR image.

    ``sr`` is the model's result on the calibration capture ``lr`` (steered as it will be
    used), ``hr`` an HR image of the same field. Returns the best count and the PSNR (dB) of
    each count tried, by the scoring protocol of :mod:`~napari_sisr.core.evaluation.scoring`
    (registration and intensity matching to the HR image).
    """
    from ..evaluation.scoring import bicubic_upsample, prepare_pair, score_outputs

    lr, hr = prepare_pair(np.asarray(lr, np.float64), np.asarray(hr, np.float64), scale)
    sr = np.asarray(sr, np.float64)[: lr.shape[0] * scale, : lr.shape[1] * scale]
    outputs = {"bicubic": bicubic_upsample(lr, scale)}
    for n, refined in _iterates(sr, lr, scale, psf, candidates).items():
        outputs[f"refined {n}"] = refined
    scored = score_outputs(outputs, hr, scale).scores
    psnr = {int(n): float(scored[f"refined {n}"].psnr) for n in candidates}
    return max(psnr, key=lambda n: (psnr[n], -n)), psnr
