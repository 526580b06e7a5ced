"""Steering a degradation-aware model by what serves it best on a real LR/HR pair.

A fit (:func:`napari_sisr.fit_degradation`) describes a real pair by a Gaussian PSF and white
noise; real captures are neither (a widefield PSF has wings, a confocal pinhole and a STED
reference differ in more than width), so the values that make a degradation-aware model
reproduce the HR capture best are not exactly the fitted ones. With the pair at hand they
can be measured: :func:`tune_steering` super-resolves the pair's LR capture with the model
told a range of PSF widths and noise levels around the fit, scores each output against the
HR capture by the protocol of :mod:`.scoring`, and returns the fit with the
best width and noise. No weight changes: it takes seconds, not a training run.

The search: nine PSF widths from 0 to the top of the model's trained range (further where
the fit is wider), at the fitted noise; then five noise levels (a quarter to four times the
fitted one) at the best width; then the width refined by half a step either way. Only a
central crop of at most :data:`MAX_LR_SIDE` LR pixels a side is super-resolved.

Tuned values are chosen on the pair they are scored on: what they are worth on other images
of the same microscope is what ``benchmarks/bench_real_pairs.py`` measures (tuned on one half
of each real pair, scored on the other).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..progress import Progress, as_stop, check_stop, run_to_end, skip_job_warnings

__all__ = ["MAX_LR_SIDE", "TunedSteering", "iter_tune_steering", "tune_steering"]

#: Largest side (LR px) of the central crop of the pair that is super-resolved per trial.
MAX_LR_SIDE = 384
#: PSF widths tried first (evenly from 0 to the top of the range).
N_SIGMA = 9
#: Noise levels tried at the best width, as multiples of the fitted noise.
NOISE_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)
#: Where the fit found no noise: levels tried, as fractions of the LR's intensity range.
NOISE_FRACTIONS = (0.0, 0.01, 0.02, 0.05, 0.1)
#: How far beyond the fitted width the widths tried reach, where the fit exceeds the range.
BEYOND_FIT = 1.2


@dataclass
class TunedSteering:
    """What :func:`tune_steering` found.

    Attributes
    ----------
    params : DegradationParams
        The fit with the tuned PSF width and noise (``source="tuned"``); pass it as
        ``degradation=`` to :func:`napari_sisr.predict` or save it for ``--degradation``.
    fit : DegradationParams
        The fit it started from.
    psnr, psnr_fit, psnr_bicubic : float
        Registered PSNR (dB) on the pair of the model told the tuned values, told the fit as
        it is, and of bicubic upsampling.
    tried : list of (sigma HR px, noise std in the LR's units, PSNR dB)
    model : str
        The model's name.
    warnings : list of str
        E.g. a tuned value outside the range the model was trained on.
    """

    params: object
    fit: object
    psnr: float
    psnr_fit: float
    psnr_bicubic: float
    tried: list[tuple[float, float, float]] = field(default_factory=list)
    model: str = ""
    warnings: list[str] = field(default_factory=list)

    def table(self) -> str:
        """The trials as a Markdown table, best first, and the verdict."""
        rows = sorted(self.tried, key=lambda t: -t[2])
        lines = [
            f"steering of {self.model} tuned on the pair (registered PSNR, dB)",
            "",
            "| PSF sigma (HR px) | noise std | PSNR |",
            "|---|---|---|",
            *(f"| {s:.2f} | {n:.4g} | {p:.2f} |" for s, n, p in rows),
            "",
            f"bicubic {self.psnr_bicubic:.2f} dB; told the fit (sigma {self.fit.sigma:.2f}, "
            f"noise {self.fit.noise_std:.4g}) {self.psnr_fit:.2f} dB; tuned (sigma "
            f"{self.params.sigma:.2f}, noise {self.params.noise_std:.4g}) {self.psnr:.2f} dB",
        ]
        return "\n".join(lines)


@contextlib.contextmanager
def _quiet():
    """Without the per-job warnings of the many trial predictions (reported once at the end)."""
    handlers = [*logging.getLogger("napari_sisr").handlers, *logging.getLogger().handlers]
    for h in handlers:
        h.addFilter(skip_job_warnings)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(skip_job_warnings)


def _central(lr: np.ndarray, hr: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray]:
    h, w = lr.shape
    ch, cw = min(h, MAX_LR_SIDE), min(w, MAX_LR_SIDE)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return (
        lr[y0 : y0 + ch, x0 : x0 + cw],
        hr[s * y0 : s * (y0 + ch), s * x0 : s * (x0 + cw)],
    )


class _Trials:
    """Runs of the model on the central crop of the pair, each told one PSF width and noise
    level and scored once against the HR crop (widths below 0 are 0)."""

    def __init__(self, net, fit, lr_c, hr_c, shift, config, total: int, stop) -> None:
        self.net, self.fit, self.lr_c, self.hr_c = net, fit, lr_c, hr_c
        self.shift, self.config, self.total, self.stop = shift, config, total, stop
        self.scores: dict[tuple[float, float], float] = {}

    def told(self, sigma: float, noise: float):
        """The fit with this width and noise."""
        return self.fit.with_sigma(max(0.0, float(sigma))).updated(noise_var=float(noise) ** 2)

    @staticmethod
    def key(sigma: float, noise: float) -> tuple[float, float]:
        """A trial's entry in ``scores``."""
        return round(max(0.0, float(sigma)), 4), round(float(noise), 8)

    def run(self, sigma: float, noise: float) -> Generator[Progress, None, float]:
        """The PSNR of the model told (sigma, noise); runs it unless it ran already."""
        from ..inference.predict import predict
        from .scoring import score_outputs

        at = self.key(sigma, noise)
        if at not in self.scores:
            check_stop(self.stop)
            lr = self.lr_c.astype(np.float32)
            with _quiet():
                out = predict(
                    lr, self.net, config=self.config, dtype="float32", degradation=self.told(*at)
                )
            s = int(self.net.scale)
            scored = score_outputs({"x": np.asarray(out, float)}, self.hr_c, s, shift_yx=self.shift)
            self.scores[at] = scored.scores["x"].psnr
            done = f"sigma {at[0]:.2f} HR px, noise {at[1]:.4g}: {self.scores[at]:.2f} dB"
            yield Progress(len(self.scores), self.total, done)
        return self.scores[at]

    def best(self) -> tuple[float, float, float]:
        """(sigma, noise, PSNR) of the best trial."""
        (sigma, noise), psnr = max(self.scores.items(), key=lambda kv: kv[1])
        return sigma, noise, psnr


def _aware_model(model, scale):
    """The degradation-aware network of ``model``, its scale and its name."""
    from ..inference.runner import resolve_model
    from ..inference.steering import is_degradation_aware

    net, _ = resolve_model(model)
    if not is_degradation_aware(net):
        raise InputError(
            "tuning the steering needs a degradation-aware model (e.g. aware-4x); "
            f"{getattr(net, 'meta', {}).get('name', 'this model')} takes no degradation"
        )
    s = int(net.scale)
    if scale is not None and int(scale) != s:
        raise InputError(f"the pair is at x{scale} but the model super-resolves x{s}")
    return net, s, str((getattr(net, "meta", {}) or {}).get("name") or model)


def _search(trials: _Trials, top: float, noises: list[float]) -> Generator[Progress, None, float]:
    """Widths at the fitted noise, noise levels at the best width, then the width refined by
    half a step either way; returns the PSNR of the model told the fit itself."""
    n0 = float(trials.fit.noise_std)
    psnr_fit = yield from trials.run(trials.fit.sigma, n0)
    sigmas = np.linspace(0.0, top, N_SIGMA)
    for v in sigmas:
        yield from trials.run(v, n0)
    best_s = max(sigmas, key=lambda v: trials.scores[trials.key(v, n0)])
    for n in noises:
        yield from trials.run(best_s, n)
    best_n = max(noises, key=lambda n: trials.scores[trials.key(best_s, n)])
    step = top / (N_SIGMA - 1)
    for v in (best_s - step / 2, best_s + step / 2):
        yield from trials.run(v, best_n)
    return psnr_fit


def iter_tune_steering(
    model, lr, hr, scale: int | None = None, *, degradation=None, stop=None, config=None
) -> Generator[Progress, None, TunedSteering]:
    """:func:`tune_steering` as a generator of :class:`Progress` updates (one per trial)."""
    from ..degradation.fit import fit_degradation
    from ..inference.config import PredictConfig
    from .scoring import _normalise, bicubic_upsample, prepare_pair, register_shift, score_outputs

    stop = as_stop(stop)
    net, s, name = _aware_model(model, scale)
    lr, hr = prepare_pair(lr, hr, s)
    if degradation is None:
        yield Progress(0, 1, "fitting the degradation of the pair")
        degradation = fit_degradation(hr, lr, s, families=False)
    fit = degradation
    if int(fit.scale) != s:
        raise InputError(f"the degradation is for x{fit.scale}, the model for x{s}")
    lr_c, hr_c = _central(lr, hr, s)
    bic = bicubic_upsample(lr_c, s)
    shift = register_shift(_normalise(hr_c), bic, 4 * s)
    c = PredictConfig.build(config).model_copy(update={"degradation": None})
    meta = getattr(net, "meta", None) or {}
    trained = (meta.get("degradation") or {}).get("sigma") or [0.0, 1.5 * s]
    top = max(float(trained[1]), BEYOND_FIT * float(fit.sigma))
    n0 = float(fit.noise_std)
    if n0 > 0:
        noises = [n0 * f for f in NOISE_FACTORS]
    else:
        lo, hi = np.percentile(lr_c, [0.1, 99.9])
        noises = [float(hi - lo) * f for f in NOISE_FRACTIONS]
    total = N_SIGMA + len(noises) + 3
    trials = _Trials(net, fit, lr_c, hr_c, shift, c, total, stop)
    psnr_fit = yield from _search(trials, top, noises)
    bs, bn, best = trials.best()
    psnr_bic = score_outputs({"bicubic": bic}, hr_c, s, shift_yx=shift).scores["bicubic"].psnr
    notes = {
        **fit.notes,
        "tuned_for": name,
        "fitted_sigma": float(fit.sigma),
        "fitted_noise_std": n0,
        "tuned_psnr": float(best),
        "fit_psnr": float(psnr_fit),
        "bicubic_psnr": float(psnr_bic),
    }
    params = trials.told(bs, bn).updated(source="tuned", notes=notes)
    yield Progress(total, total, f"tuned: sigma {bs:.2f} HR px, noise {bn:.4g}: {best:.2f} dB")
    warnings = []
    if bs > float(trained[1]) * 1.02:
        warnings.append(
            f"the tuned PSF sigma {bs:.2f} HR px lies beyond the range {name} was trained on "
            f"({trained[0]:g} to {trained[1]:g} HR px): its output there is an extrapolation"
        )
    tried = [(a, b, v) for (a, b), v in trials.scores.items()]
    return TunedSteering(
        params, fit, float(best), float(psnr_fit), float(psnr_bic), tried, name, warnings
    )


def tune_steering(
    model,
    lr,
    hr,
    scale: int | None = None,
    *,
    degradation=None,
    stop=None,
    progress=None,
    config=None,
) -> TunedSteering:
    """The PSF width and noise with which a degradation-aware model best restores a real pair.

    Parameters
    ----------
    model : model name, path or nn.Module
        A degradation-aware model (``aware-4x``, ``aware-2x`` or one trained so).
    lr, hr : numpy.ndarray
        A real 2D LR capture and a real HR capture of the same field (not registered).
    scale : int, optional
        Scale of the pair; must be the model's (default: the model's).
    degradation : DegradationParams, optional
        The fit of the pair to start from (default: fitted here).
    stop : callable or threading.Event, optional
        Cancels between trials.
    progress : callable, optional
        Called with a :class:`Progress` after every trial.
    config : PredictConfig, optional
        Inference settings of the trials (device, engine, tile).

    Returns
    -------
    TunedSteering
        ``params`` is the fit with the tuned values: ``predict(image, model,
        degradation=tuned.params)``.
    """
    gen = iter_tune_steering(
        model, lr, hr, scale, degradation=degradation, stop=stop, config=config
    )
    return run_to_end(gen, progress)
