"""The evidence beside a super-resolved image: consistency, resolution, uncertainty.

:func:`evidence` gathers, for one SR plane and the capture it came from:

* the **consistency map** (:mod:`.consistency`): where the SR image, taken back through the
  microscope's degradation, disagrees with the capture beyond its noise;
* the **resolution** of the capture and of the result by decorrelation analysis
  (:mod:`.resolution`), in nm when the pixel size is known;
* with the model: the **resolution the result reproduces**, the Fourier ring correlation of
  the results of two independent halves of the capture (:mod:`.split`), on a central crop,
  which invented texture does not raise; and for a degradation-aware model the **uncertainty**
  of the result over the plausible range of its steering (:data:`SIGMA_UNCERTAINTY`).

The model-based measures run on a central crop of at most :data:`CROP` LR px so that their
cost does not grow with the image.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .consistency import Consistency, consistency
from .resolution import Resolution, decorrelation, frc_resolution

#: Side (LR px) of the central crop the model-based measures run on.
CROP = 256
#: Relative uncertainty of the PSF width by where it came from (a stated assumption, from the
#: measured errors: fits recover a known width to about 2 %, the learned estimator and the
#: optics' Gaussian approximation to 20-35 %, the model card's default is a guess).
SIGMA_UNCERTAINTY = {
    "fit": 0.05,
    "tuned": 0.10,
    "typed": 0.10,
    "optics": 0.20,
    "metadata": 0.20,
    "beads": 0.05,
    "adapted": 0.10,
    "estimated": 0.35,
    "default": 0.50,
}
#: Relative uncertainty of the noise level (estimated from the image, or given).
NOISE_UNCERTAINTY = 0.25
#: A decorrelation resolution finer than the split-input FRC by more than this factor is
#: detail the two halves do not agree on.
DISAGREE = 1.5


@dataclass
class Evidence:
    """What :func:`evidence` measured (see the module docstring)."""

    consistency: Consistency
    resolution_lr: Resolution
    resolution_sr: Resolution
    resolution_split: Resolution | None = None
    uncertainty: float | None = None  # 99th percentile of the spread, fraction of the range
    uncertainty_map: np.ndarray | None = None  # on the crop (HR grid)
    crop: tuple[int, int, int, int] | None = None  # y0, x0, y1, x1 of the crop (LR grid)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """The JSON summary (``napari-sisr evidence`` prints it as one line)."""
        c = self.consistency.summary()
        return {
            "rse": c["rse"],
            "rsp": c["rsp"],
            "flagged_fraction": c["flagged_fraction"],
            "n_regions": c["n_regions"],
            "regions": c["regions"][:20],
            "residual_lag1": c["residual_lag1"],
            "sigma_hr_px": c["sigma_hr_px"],
            "sigma_source": c["sigma_source"],
            "noise_source": c["noise_source"],
            "resolution_lr": self.resolution_lr.as_dict(),
            "resolution_sr": self.resolution_sr.as_dict(),
            "resolution_split": self.resolution_split.as_dict() if self.resolution_split else None,
            "uncertainty": self.uncertainty,
            "crop_lr": list(self.crop) if self.crop else None,
            "notes": list(self.notes) + c["notes"],
        }

    def table(self) -> str:
        """The evidence in plain words, one measure a line."""
        c = self.consistency
        lines = [
            f"consistency with the capture: {100 * c.flagged_fraction:.2f} % of its pixels "
            f"disagree beyond 3 noise std (noise alone: 0.27 %), {len(c.regions)} region(s); "
            f"correlation {c.rsp:.3f}, error {100 * c.rse:.2f} % of the range",
            f"resolution: capture {self.resolution_lr.text()}, result {self.resolution_sr.text()}",
        ]
        if self.resolution_split is not None:
            lines.append(
                "resolution two independent halves of the capture agree on: "
                + self.resolution_split.text()
            )
        if self.uncertainty is not None:
            lines.append(
                f"uncertainty from the steering: up to {100 * self.uncertainty:.2f} % of the "
                "range (the spread of the result over the plausible PSF widths and noise "
                "levels, reached on 1 % of the pixels)"
            )
        lines += [f"note: {n}" for n in [*self.notes, *c.notes]]
        return "\n".join(lines)


def _sigma_key(source: str) -> str:
    text = source.lower()
    for key in ("tuned", "beads", "adapted", "metadata", "optics", "typed", "fit"):
        if key in text:
            return key
    if "estimated" in text or "image" in text:
        return "estimated"
    return "default"


def central_crop(shape: tuple[int, int], side: int = CROP) -> tuple[int, int, int, int]:
    """The central square of at most ``side`` px of a plane (y0, x0, y1, x1)."""
    h, w = shape
    ny, nx = min(side, h), min(side, w)
    y0, x0 = (h - ny) // 2, (w - nx) // 2
    return y0, x0, y0 + ny, x0 + nx


def evidence(
    sr,
    lr,
    scale: int,
    *,
    model=None,
    degradation=None,
    config=None,
    pixel_size_nm: float | None = None,
    split: bool = True,
    uncertainty: bool = True,
    crop: int = CROP,
    rng: int = 0,
) -> Evidence:
    """The evidence of one SR plane against the capture it was made from.

    Parameters
    ----------
    sr, lr : 2D array-likes
        The SR plane (``scale`` times the capture) and the capture.
    scale : int
    model : model name, path or nn.Module, optional
        The model that made ``sr``: its steering gives the PSF width, and it runs the
        split-input resolution and the uncertainty.
    degradation : fit JSON, DegradationParams, dict or Steering, optional
        What the model was told (as ``predict(degradation=...)`` takes it); for a model that
        takes none, a fit JSON still gives the PSF width. Without either, the width is fitted
        to the pair (SR, capture).
    config : PredictConfig, optional
        The settings the model ran with (engine, precision, tile...).
    pixel_size_nm : float, optional
        The capture's pixel size: resolutions in nm.
    split, uncertainty : bool
        Run the model-based measures (when a model is given).
    crop : int
        Side (LR px) of the central crop of the model-based measures.
    """
    if sr is None or lr is None:
        raise InputError("evidence needs the SR image and the capture it was made from")
    s = int(scale)
    sigma, source, steered = _psf(model, degradation, lr, s, config)
    cons = consistency(sr, lr, s, sigma=sigma, sigma_source=source)
    box = central_crop(tuple(lr.shape), 4 * crop)
    lr_crop = np.asarray(lr[box[0] : box[2], box[1] : box[3]], np.float64)
    sr_crop = np.asarray(sr[box[0] * s : box[2] * s, box[1] * s : box[3] * s], np.float64)
    px_hr = pixel_size_nm / s if pixel_size_nm else None
    lr_res = in_capture_px(decorrelation(lr_crop, pixel_size_nm), 1)
    out = Evidence(cons, lr_res, in_capture_px(decorrelation(sr_crop, px_hr), s))
    if model is None:
        out.notes.append(
            "no model given: the resolution of two independent halves and the uncertainty "
            "need the model that made the result"
        )
        return out
    box = central_crop(tuple(lr.shape), crop)
    out.crop = box
    lr_small = np.asarray(lr[box[0] : box[2], box[1] : box[3]], np.float64)
    if split and np.ptp(lr_small) == 0:
        out.notes.append(
            "the capture does not vary where the model-based measures look (its middle): "
            "two halves of it would agree on nothing, so their resolution is not measured"
        )
    elif split:
        try:
            split_res = _split_resolution(model, lr_small, config, steered, px_hr, rng)
        except InputError as err:  # an optional measure: the others stand without it
            out.notes.append(f"the resolution of two halves is not measured: {err}")
        else:
            out.resolution_split = in_capture_px(split_res, s)
            _compare(out)
    if uncertainty and steered is not None:
        out.uncertainty, out.uncertainty_map = _uncertainty(model, lr_small, config, steered)
    return out


def in_capture_px(res: Resolution, s: int) -> Resolution:
    """A resolution in pixels of the grid it was measured on (the result's: ``s`` per capture
    pixel) as pixels of the capture (unit ``"LR px"``), so that without a pixel size the
    capture's and the result's figures read in one unit (5.76 result px = 1.44 LR px)."""
    if res.unit != "px":
        return res
    return dataclasses.replace(res, value=res.value / s, unit="LR px")


def _psf(model, degradation, lr, s: int, config):
    """The PSF width (HR px) the result was made with, where it came from, and the steering
    of a degradation-aware model (``None`` for others)."""
    from ..inference.steering import Steering

    steer = Steering.coerce(degradation) if degradation is not None else None
    if model is not None:
        from ..inference.runner import resolve_model
        from ..inference.steering import is_degradation_aware

        net, meta = resolve_model(model)
        if int(getattr(net, "scale", s)) != s:
            raise InputError(f"the model super-resolves x{int(net.scale)}, the pair is x{s}")
        if is_degradation_aware(net):
            steered = _steered(net, meta, lr, steer, config)
            sy, sx = steered.condition[:2]
            return (sy, sx), steered.sources.get("sigma", "the steering"), steered
    if steer is not None and steer.fit is not None:
        k = s / steer.fit.scale
        sy, sx = steer.fit.sigma_yx
        return (sy * k, sx * k), "the fit given", None
    if steer is not None and steer.sigma is not None:
        return (steer.sigma, steer.sigma), "typed in", None
    return None, "fitted to the pair (SR, capture)", None


def _steered(net, meta, lr, steer, config):
    """What the job told the network for this capture (as predict resolves it)."""
    from ..inference.input import canonical_input
    from ..inference.predict import _stats
    from ..inference.runner import model_info
    from ..inference.steering import resolve_steering

    inp = canonical_input(np.asarray(lr, np.float32))
    info = model_info(net, meta, int(net.scale))
    norm = config.normalization if config is not None else None
    stats, _ = _stats(inp, info, norm, None, False)
    return resolve_steering(steer, net, meta, inp, stats)


def _run(model, image, config, condition=None) -> np.ndarray:
    from ..inference.config import PredictConfig
    from ..inference.predict import predict

    options = {}
    if condition is not None:
        sy, sx, noise, pa = condition
        steer = {"sigma": math.sqrt(sy * sx), "noise_std": min(noise, 1.0), "poisson_a": pa}
        options["degradation"] = steer
    c = PredictConfig.build(config, **options)
    return np.asarray(predict(image, model, config=c, dtype="float32"), np.float64)


def _split_resolution(model, lr, config, steered, px_hr, rng) -> Resolution:
    """FRC resolution of the results of two recorrupted halves of ``lr``."""
    from .split import split_halves

    a, b, how = split_halves(lr, rng=rng)
    cond = steered.condition if steered is not None else None
    if cond is not None:  # each half carries twice the noise variance
        cond = (cond[0], cond[1], cond[2] * math.sqrt(2), cond[3] * 2)
    res = frc_resolution(_run(model, a, config, cond), _run(model, b, config, cond), px_hr)
    return dataclasses.replace(res, method=f"frc of the results of two halves ({how})")


def _compare(out: Evidence) -> None:
    split, dec = out.resolution_split, out.resolution_sr
    if split is None or not (math.isfinite(split.value) and math.isfinite(dec.value)):
        return
    if split.at_limit:
        if "recorrupted" in split.method:
            out.notes.append(
                "the results of the two halves agree up to the pixel limit: with the noise "
                "estimated rather than counted, the halves may share part of it (processed or "
                "correlated noise), so this bound says little; photon counts split exactly"
            )
        return
    if split.value > DISAGREE * dec.value:
        out.notes.append(
            f"the result shows detail down to {dec.text()} but two independent halves of the "
            f"capture agree only down to {split.text()}: the finer texture is not supported "
            "by the capture (it may be invented)"
        )


def _uncertainty(model, lr, config, steered) -> tuple[float, np.ndarray]:
    """Spread of the result over the plausible steering (:data:`SIGMA_UNCERTAINTY`)."""
    sy, sx, noise, pa = steered.condition
    du = SIGMA_UNCERTAINTY[_sigma_key(steered.sources.get("sigma", ""))]
    variants = [(sy, sx, noise, pa)]
    for f in (1 - du, 1 + du):
        variants.append((sy * f, sx * f, noise, pa))
    for f in (1 - NOISE_UNCERTAINTY, 1 + NOISE_UNCERTAINTY):
        variants.append((sy, sx, noise * f, pa))
    outs = np.stack([_run(model, lr, config, v) for v in variants])
    spread = outs.std(axis=0)
    span = float(np.percentile(outs[0], 99.9) - np.percentile(outs[0], 0.1)) or 1.0
    return float(np.percentile(spread, 99) / span), (spread / span).astype(np.float32)
