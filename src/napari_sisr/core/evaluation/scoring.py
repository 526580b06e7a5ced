"""Scoring super-resolution against a real high-resolution capture of the same field.

A real LR/HR pair is never pixel-registered, and the two captures differ in exposure and
detector. The protocol, the same for every method so that they compare fairly:

1. the HR image is mapped to [0, 1] by its 0.1 and 99.9 percentiles (the data range is 1);
2. the sub-pixel shift between the HR image and the bicubic upsampling of the LR image is
   measured once (cross-correlation peak, parabola refinement) and applied to every output;
3. every output gets its own least-squares gain and offset against the HR image, since no
   method can know the HR detector's intensity scale;
4. a border of ``4 * scale`` HR pixels is left out (shifts and filters are undefined there);
5. PSNR and SSIM (:mod:`napari_sisr.core.metrics`) are computed on what remains.

The baselines every method must beat: nearest-neighbour and bicubic upsampling, and bicubic
followed by Richardson-Lucy deconvolution with the fitted PSF (a Gaussian of the fitted sigma
times the pixel's box, which is what remains in a bicubic upsampling), which needs no
training and is what a careful user tries first.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..degradation.registration import subpixel_shift
from ..errors import InputError
from ..training.provenance import Overlap

__all__ = [
    "PairScore",
    "Scored",
    "bicubic_upsample",
    "choose_rl_iterations",
    "evaluate",
    "nearest_upsample",
    "prepare_pair",
    "register_shift",
    "richardson_lucy",
    "rl_psf",
    "score_outputs",
]

#: Percentiles of the HR image mapped to 0 and 1 for scoring.
HR_PERCENTILES = (0.1, 99.9)
#: Border left out, in multiples of the scale (HR pixels).
BORDER_PER_SCALE = 4
#: Below this correlation (bicubic against HR, registered) a pair is not of the same field.
MIN_OVERLAP_CORRELATION = 0.3
#: Richardson-Lucy iteration counts tried when they are chosen on a training pair.
RL_ITERATIONS = (0, 2, 5, 10, 20, 40, 80)


@dataclass(frozen=True)
class PairScore:
    """PSNR (dB) and SSIM of one method against the HR image, and its fitted intensity map."""

    psnr: float
    ssim: float
    gain: float = 1.0
    offset: float = 0.0


@dataclass
class Scored:
    """Scores of several methods on one pair, with how they were registered."""

    scores: dict[str, PairScore]
    shift_yx: tuple[float, float]
    border: int
    extra: dict = field(default_factory=dict)
    #: the pair is (part of) the scored model's training data (see :func:`evaluate`)
    overlap: Overlap | None = None
    #: the scores of the part of that pair held out from training
    held_out: Scored | None = None

    def gain_over(self, method: str, baseline: str = "bicubic") -> float:
        return self.scores[method].psnr - self.scores[baseline].psnr

    def best(self) -> str:
        """The method of the highest PSNR."""
        return max(self.scores, key=lambda k: self.scores[k].psnr)

    def notes(self) -> str:
        """How the scores were made: the registration, Richardson-Lucy's settings, the border."""
        notes = [
            f"registered by a shift of ({self.shift_yx[0]:+.2f}, {self.shift_yx[1]:+.2f}) HR px"
        ]
        if "rl_iterations" in self.extra:
            notes.append(
                f"Richardson-Lucy: {self.extra['rl_iterations']} iterations, PSF sigma "
                f"{self.extra['sigma']:.3g} HR px"
            )
        notes.append(f"border of {self.border} HR px left out")
        if self.overlap is not None:
            notes.append(self.overlap.sentence())
            if self.overlap.held_out is not None and self.held_out is None:
                notes.append("the held-out part is too small to score")
        return "; ".join(notes)

    def table(self) -> str:
        """The scores as aligned text, best PSNR marked."""
        best = self.best()
        width = max(len(k) for k in self.scores)
        lines = [f"{'method'.ljust(width)}  PSNR dB    SSIM"]
        for name, s in self.scores.items():
            mark = " *" if name == best else ""
            lines.append(f"{name.ljust(width)}  {s.psnr:7.2f}  {s.ssim:.4f}{mark}")
        lines.append(self.notes())
        if self.held_out is not None:
            lines += ["", "the held-out part of the pair (never trained on):"]
            lines += self.held_out.table().splitlines()[:-1]
        return "\n".join(lines)


def _as_plane(arr, what: str) -> np.ndarray:
    a = np.asarray(arr)
    if a.dtype.kind not in "uif":
        raise InputError(f"{what} image has unsupported dtype {a.dtype}")
    if a.ndim != 2:
        raise InputError(f"{what} image must be one 2D plane, got shape {a.shape}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise InputError(f"{what} image contains NaN or infinite values")
    return a


def prepare_pair(lr, hr, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Check a real pair and crop the HR image to ``scale`` times the LR grid (float64).

    Raises :class:`InputError` when the HR image is smaller than the LR image times the
    scale, or when either is too small to score (the border alone would eat it).
    """
    s = int(scale)
    if s != scale or s < 1:
        raise InputError(f"scale must be a positive integer, got {scale}")
    lr, hr = _as_plane(lr, "LR"), _as_plane(hr, "HR")
    ny, nx = lr.shape[0] * s, lr.shape[1] * s
    if hr.shape[0] < ny or hr.shape[1] < nx:
        swapped = hr.size < lr.size
        raise InputError(
            f"the HR image ({hr.shape[0]}x{hr.shape[1]}) is smaller than the LR image "
            f"({lr.shape[0]}x{lr.shape[1]}) times the scale {s}: "
            + (
                "are the two swapped? The LR capture comes first, then the HR image "
                "(napari-sisr fit takes HR first, or name them: --lr / --hr)"
                if swapped
                else "is the scale right?"
            )
        )
    if hr.shape[0] > 1.25 * ny + s or hr.shape[1] > 1.25 * nx + s:
        raise InputError(
            f"the HR image ({hr.shape[0]}x{hr.shape[1]}) is much larger than the LR image "
            f"times the scale {s} ({ny}x{nx}): is the scale right?"
        )
    if min(lr.shape) < 4 * BORDER_PER_SCALE:
        raise InputError(
            f"the LR image ({lr.shape[0]}x{lr.shape[1]}) is too small to score (need at "
            f"least {4 * BORDER_PER_SCALE} px a side)"
        )
    return lr, hr[:ny, :nx]


def nearest_upsample(lr: np.ndarray, scale: int) -> np.ndarray:
    """Every LR pixel repeated ``scale x scale`` times."""
    return np.kron(np.asarray(lr, np.float64), np.ones((scale, scale)))


def bicubic_upsample(lr: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic upsampling, the same as the training's validation baseline (block centres)."""
    import torch

    from .baselines import bicubic

    t = torch.from_numpy(np.ascontiguousarray(lr, dtype=np.float64))[None, None]
    return bicubic(t, scale)[0, 0].numpy()


def _normalise(hr: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(hr, HR_PERCENTILES)
    if not hi > lo:
        raise InputError("the HR image is constant between its percentiles: nothing to score")
    return (hr - lo) / (hi - lo)


def register_shift(ref: np.ndarray, img: np.ndarray, max_shift: float) -> tuple[float, float]:
    """Shift ``(dy, dx)`` with ``ndimage.shift(img, (dy, dx)) ~ ref``, within ``max_shift``.

    Cross-correlation of the mean-free images (:func:`subpixel_shift`), its integer peak
    searched within ``ceil(max_shift) - 1`` pixels, refined by a parabola through its
    neighbours.
    """
    return subpixel_shift(ref, img, max(0, math.ceil(max_shift) - 1))


def _fit_gain(out: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """The gain and offset that match ``out`` to ``ref`` (:func:`~..metrics.gain_offset`)."""
    from ..metrics import gain_offset

    return gain_offset(out, ref)


def score_outputs(
    outputs: Mapping[str, np.ndarray],
    hr: np.ndarray,
    scale: int,
    *,
    shift_yx: tuple[float, float] | None = None,
    reference: str = "bicubic",
) -> Scored:
    """Score HR-sized outputs against the HR image by the protocol of this module.

    Parameters
    ----------
    outputs : mapping
        Method name -> output on the HR grid (``scale`` times the LR image). ``reference``
        (the bicubic upsampling) must be among them unless ``shift_yx`` is given.
    hr : numpy.ndarray
        The real HR image, cropped to the outputs' shape (see :func:`prepare_pair`).
    scale : int
        Scale of the pair; the border left out is ``4 * scale`` HR pixels.
    shift_yx : (float, float), optional
        Registration shift to apply to every output; measured on ``reference`` if omitted.
    """
    from scipy import ndimage

    from ..metrics import psnr, ssim

    hr = _as_plane(hr, "HR")
    target = _normalise(hr)
    border = BORDER_PER_SCALE * int(scale)
    if min(hr.shape) <= 2 * border + 11:
        raise InputError(f"the pair is too small to score with a {border} px border")
    if shift_yx is None:
        if reference not in outputs:
            raise InputError(f"give shift_yx or a {reference!r} output to register with")
        shift_yx = register_shift(target, np.asarray(outputs[reference], float), border)
    inner = (slice(border, hr.shape[0] - border), slice(border, hr.shape[1] - border))
    ref = target[inner]
    if reference in outputs:
        moved = ndimage.shift(np.asarray(outputs[reference], float), shift_yx, order=3)[inner]
        overlap = float(np.corrcoef(moved.ravel(), ref.ravel())[0, 1])
        if not overlap >= MIN_OVERLAP_CORRELATION:
            raise InputError(
                f"the LR and HR images do not show the same field (correlation {overlap:.2f} "
                f"after registration, below {MIN_OVERLAP_CORRELATION}): check the pair and "
                "the scale"
            )
    scores = {}
    for name, out in outputs.items():
        out = np.asarray(out, dtype=np.float64)
        if out.shape != hr.shape:
            raise InputError(f"output {name!r} has shape {out.shape}, the HR image {hr.shape}")
        moved = ndimage.shift(out, shift_yx, order=3, mode="nearest")[inner]
        g, o = _fit_gain(moved, ref)
        matched = g * moved + o
        scores[name] = PairScore(psnr(matched, ref, 1.0), ssim(matched, ref, 1.0), g, o)
    return Scored(scores, (float(shift_yx[0]), float(shift_yx[1])), border)


# ------------------------------------------------------------------------ deconvolution


def rl_psf(sigma: float, scale: int) -> np.ndarray:
    """The blur left in a bicubic upsampling: a Gaussian of ``sigma`` times the pixel's box."""
    from scipy.signal import fftconvolve

    r = int(math.ceil(4 * max(sigma, 0.25))) + scale
    v = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (v / max(sigma, 1e-3)) ** 2) if sigma > 0 else (v == 0).astype(float)
    box = np.ones(scale) / scale
    k1 = fftconvolve(g / g.sum(), box, mode="same")
    k = np.outer(k1, k1)
    k = np.clip(k, 0.0, None)
    return k / k.sum()


def richardson_lucy(image: np.ndarray, psf: np.ndarray, iterations: int) -> np.ndarray:
    """Richardson-Lucy deconvolution (half-sample symmetric borders), intensities kept.

    The image is shifted to be positive first and shifted back after, so any offset works.
    """
    from scipy.signal import fftconvolve

    img = np.asarray(image, dtype=np.float64)
    if iterations <= 0:
        return img.copy()
    lo = float(img.min())
    span = float(img.max() - lo) or 1.0
    eps = 1e-3 * span
    y = img - lo + eps
    r = psf.shape[0] // 2
    pad = lambda a: np.pad(a, r, mode="symmetric")  # noqa: E731
    crop = (slice(r, r + img.shape[0]), slice(r, r + img.shape[1]))
    flipped = psf[::-1, ::-1]
    x = y.copy()
    for _ in range(int(iterations)):
        blurred = fftconvolve(pad(x), psf, mode="same")[crop]
        ratio = y / np.maximum(blurred, 1e-12 * span)
        x = x * fftconvolve(pad(ratio), flipped, mode="same")[crop]
    return x + lo - eps


def choose_rl_iterations(lr, hr, scale: int, sigma: float, candidates=RL_ITERATIONS) -> int:
    """The Richardson-Lucy iteration count that scores best on a (training) pair."""
    lr, hr = prepare_pair(lr, hr, scale)
    bic = bicubic_upsample(lr, scale)
    psf = rl_psf(sigma, scale)
    outputs = {"bicubic": bic}
    for n in candidates:
        if n:
            outputs[f"rl{n}"] = richardson_lucy(bic, psf, n)
    scored = score_outputs(outputs, hr, scale)
    best = max(scored.scores, key=lambda k: scored.scores[k].psnr)
    return 0 if best == "bicubic" else int(best[2:])


# --------------------------------------------------------------------------- evaluate


def evaluate(
    lr,
    hr,
    scale: int,
    *,
    sr=None,
    model=None,
    sigma: float | None = None,
    rl_iterations: int | None = None,
    config=None,
    label: str | None = None,
    training_data: list | None = None,
) -> Scored:
    """Score a super-resolved image (or a model) against a real HR capture, with baselines.

    Parameters
    ----------
    lr, hr : numpy.ndarray
        A real 2D LR capture and a real HR capture of the same field (not registered).
    scale : int
        Integer scale between the two pixel grids.
    sr : numpy.ndarray, optional
        A super-resolved image of ``lr`` (HR grid), e.g. from another tool.
    model : model name, path or nn.Module, optional
        A model to run on ``lr`` (:func:`napari_sisr.predict`). A degradation-aware model is
        told the degradation fitted on the pair (unless ``config`` steers it), as the
        Richardson-Lucy baseline gets the fitted PSF.
    sigma : float, optional
        PSF width (HR px) for the Richardson-Lucy baseline; fitted on the pair if omitted.
    rl_iterations : int, optional
        Richardson-Lucy iterations; chosen on the pair itself if omitted (an optimistic
        baseline: the benchmark chooses them on a separate training half).
    config : PredictConfig, optional
        Inference settings for ``model``.
    label : str, optional
        Name of the ``sr`` / ``model`` row (default ``"sr"`` / ``"model"``).
    training_data : list, optional
        What the model that made ``sr`` was trained on (its ``training_data`` record); read
        from ``model`` itself when a model is given.

    Returns
    -------
    Scored
        ``nearest``, ``bicubic``, ``bicubic + RL`` and, when given, the SR image or model.
        When the pair is the model's training data, ``overlap`` says which part was trained
        on and ``held_out`` holds the scores of the part held out from training (``None``
        when none was).
    """
    from ..degradation.fit import fit_degradation
    from ..training.provenance import find_overlap

    _check_baseline_settings(sigma, rl_iterations)
    raw_lr, raw_hr = np.asarray(lr), np.asarray(hr)
    lr, hr = prepare_pair(lr, hr, scale)
    s = int(scale)
    bic = bicubic_upsample(lr, s)
    fit = None
    if sigma is None:
        fit = fit_degradation(hr, lr, s, families=False)  # RL needs the Gaussian only
        sigma = fit.sigma
    if rl_iterations is None:
        rl_iterations = choose_rl_iterations(lr, hr, s, sigma)
    outputs = {
        "nearest": nearest_upsample(lr, s),
        "bicubic": bic,
        "bicubic + RL": richardson_lucy(bic, rl_psf(sigma, s), rl_iterations),
    }
    if sr is not None:
        outputs[label or "sr"] = _as_plane(sr, "SR")
    steered = None
    if model is not None:
        out, steered, fit, trained_on = _model_output(model, lr, hr, s, config, label, fit)
        outputs[label or "model"] = out
        training_data = trained_on or training_data
    scored = score_outputs(outputs, hr, s)
    scored.extra.update(sigma=float(sigma), rl_iterations=int(rl_iterations))
    if steered:
        scored.extra["steered_by"] = steered
    overlap = find_overlap(training_data, raw_lr, raw_hr)
    if overlap is not None:
        scored.overlap = overlap
        scored.held_out = _score_region(outputs, hr, s, overlap.held_out)
    return scored


#: Richardson-Lucy iterations a score may ask for (beyond, it only amplifies noise).
MAX_RL_ITERATIONS = 1000


def _check_baseline_settings(sigma, rl_iterations) -> None:
    if sigma is not None and not (math.isfinite(float(sigma)) and 0 <= float(sigma) <= 64):
        raise InputError(f"sigma must be a PSF width from 0 to 64 HR px, got {sigma}")
    if rl_iterations is not None and not 0 <= int(rl_iterations) <= MAX_RL_ITERATIONS:
        raise InputError(
            f"Richardson-Lucy iterations must be from 0 to {MAX_RL_ITERATIONS}, got {rl_iterations}"
        )


def _model_output(model, lr, hr, s: int, config, label, fit):
    """A model's output on ``lr`` for :func:`evaluate`: the output, how a degradation-aware
    model was steered (``None`` when told nothing by evaluate), the pair's fit (when made)
    and the model's training record."""
    from ..degradation.fit import fit_degradation
    from ..inference.config import PredictConfig
    from ..inference.predict import predict
    from ..inference.runner import resolve_model
    from ..inference.steering import Steering, is_degradation_aware

    net, meta = resolve_model(model)
    if int(getattr(net, "scale", s)) != s:
        named = model if isinstance(model, str | os.PathLike) else "model"
        name = label or meta.get("name") or named
        raise InputError(
            f"the model {name} super-resolves x{int(net.scale)}, the pair is at x{s}: "
            "choose a model of the pair's scale"
        )
    c = PredictConfig.build(config)
    steered = None
    if is_degradation_aware(net) and c.degradation is None:
        # told the degradation fitted on this very pair, as the RL baseline is its PSF
        fit = fit or fit_degradation(hr, lr, s, families=False)
        c = c.model_copy(update={"degradation": Steering(fit=fit)})
        steered = "the fit of this pair"
    out = predict(lr.astype(np.float32), net, config=c, dtype="float32")
    return np.asarray(out, dtype=np.float64), steered, fit, meta.get("training_data")


def _score_region(outputs: dict, hr: np.ndarray, s: int, region) -> Scored | None:
    """The scores of every output on one region of the HR grid (``None`` when there is no
    region, or it is too small to score past the border)."""
    if region is None:
        return None
    (y0, y1), (x0, x1) = region
    y1, x1 = min(y1, hr.shape[0]), min(x1, hr.shape[1])
    if min(y1 - y0, x1 - x0) < 2 * BORDER_PER_SCALE * s + 4 * s:
        return None
    crop = (slice(y0, y1), slice(x0, x1))
    return score_outputs({k: v[crop] for k, v in outputs.items()}, hr[crop], s)
