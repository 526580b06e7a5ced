"""Telling a degradation-aware model the degradation of the image it super-resolves.

A :class:`Steering` says where the PSF width and the noise come from: a fit
(``napari-sisr fit``'s JSON, in the raw units of the capture), values typed in, the optics
(NA, emission wavelength, pixel size: the Gaussian approximation of the PSF), or nothing, in
which case the noise is estimated from the image itself and the PSF width comes from the
image's metadata when it holds NA and wavelength, else from the image itself where the model
card says so (a learned estimator, :mod:`napari_sisr.core.degradation.blur_estimate`), else
from the model card's default.
:func:`resolve_steering` turns it into the model's condition vector (normalised units, see
:mod:`napari_sisr.core.archs.conditioned`), says in one line what was chosen and from where,
and warns when a value lies outside the range the model was trained on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..degradation.params import DegradationParams, _validated
from ..errors import InputError
from ..limits import MAX_NOISE_FRACTION, MAX_SIGMA_HR

__all__ = [
    "SOURCES",
    "Optics",
    "Steering",
    "Steered",
    "resolve_steering",
    "is_degradation_aware",
    "is_degradation_aware_arch",
]


class Optics(BaseModel):
    """The optics of the LR capture, for the Gaussian approximation of its PSF.

    Attributes
    ----------
    na : float
        Numerical aperture of the objective.
    wavelength_nm : float
        Emission wavelength, nanometres.
    pixel_nm : float, optional
        LR pixel size in the sample plane, nanometres; default the image's own pixel size.
    modality : {"widefield", "confocal"}
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    na: float = Field(ge=0.05, le=1.7)
    wavelength_nm: float = Field(ge=200, le=2000)
    pixel_nm: float | None = Field(None, ge=1, le=100_000)
    modality: Literal["widefield", "confocal"] = "widefield"

    @classmethod
    def parse(cls, text: str) -> Optics:
        """``"NA=1.4,wavelength_nm=520,pixel_nm=65"`` (``wavelength`` and ``pixel`` are in nm
        too; ``modality=confocal`` optional)."""
        names = {"na": "na", "wavelength": "wavelength_nm", "pixel": "pixel_nm"}
        names |= {"wavelength_nm": "wavelength_nm", "pixel_nm": "pixel_nm", "modality": "modality"}
        values: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in str(text).split(","))):
            key, sep, value = part.partition("=")
            key = key.strip().lower()
            if not sep or key not in names:
                raise InputError(
                    f"optics {text!r}: expected NA=..,wavelength_nm=..[,pixel_nm=..]"
                    f"[,modality=confocal], got {part!r}"
                )
            values[names[key]] = value.strip() if key == "modality" else _number(value, key)
        return _validated(cls, values, f"optics {text!r}: ")


class Steering(BaseModel):
    """Where a degradation-aware model's condition comes from (unset values: automatic).

    Attributes
    ----------
    fit : DegradationParams, optional
        A fitted (or typed) degradation in the raw units of the capture, as
        ``napari-sisr fit`` writes it; its PSF is rescaled when its scale is not the model's.
    sigma : float, optional
        PSF width in HR pixels of the model's scale (overrides the fit's and the optics').
    noise_std : float, optional
        Gaussian noise standard deviation as a fraction of the image's intensity range
        (0.02 = 2 %; overrides the fit's).
    poisson_a : float, optional
        Poisson gain in the same normalised units (variance ``poisson_a * signal``).
    optics : Optics, optional
        NA, wavelength and pixel size: the PSF width from the Gaussian approximation.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    fit: DegradationParams | None = None
    sigma: float | None = Field(None, ge=0, le=MAX_SIGMA_HR)
    noise_std: float | None = Field(None, ge=0, le=MAX_NOISE_FRACTION)
    poisson_a: float | None = Field(None, ge=0, le=1)
    optics: Optics | None = None

    @field_validator("noise_std", mode="before")
    @classmethod
    def _a_fraction(cls, value):
        """A noise typed as a percentage (5 for 5 %) is named as such, not just refused."""
        try:
            v = float(value)
        except (TypeError, ValueError):
            return value
        if 1 < v <= 100:
            raise ValueError(
                f"{v:g} is more than the whole intensity range: the noise std is a fraction of "
                f"the range (2 % is 0.02; {v:g} % would be {v / 100:g})"
            )
        return value

    @classmethod
    def coerce(cls, value) -> Steering | None:
        """A :class:`Steering` from what ``predict(degradation=...)`` accepts: ``None``,
        ``"auto"``, a fit (:class:`DegradationParams` or its JSON path), a dict of
        :class:`Steering` fields, or a :class:`Steering`."""
        if value is None or isinstance(value, Steering):
            return value
        if isinstance(value, DegradationParams):
            return cls(fit=value)
        if isinstance(value, str | os.PathLike):
            if str(value) == "auto":
                return cls()
            return cls(fit=DegradationParams.load(Path(value)))
        if isinstance(value, dict):
            return _validated(cls, value, "degradation: ")
        raise InputError(
            "degradation must be 'auto', a fit (DegradationParams or its JSON file) or a dict "
            f"of sigma / noise_std / poisson_a / optics, got {type(value).__name__}"
        )


#: Where a PSF width can come from, best first: the order the automatic route prefers.
SOURCES = ("adapted", "fit", "beads", "metadata", "optics", "typed", "auto")
#: A degradation JSON's ``source`` -> its tag in :data:`SOURCES` and how the note names it.
_FIT_ORIGIN = {
    "fit": ("fit", "the fit"),
    "tuned": ("fit", "the steering tuned on a pair"),
    "beads": ("beads", "the bead measurement"),
    "optics": ("optics", "the optics"),
    "unpaired": ("optics", "the optics"),
    "metadata": ("metadata", "the file's metadata"),
    "adapted": ("adapted", "the adaptation"),
    "manual": ("typed", "the degradation given"),
}
#: Sources that measure the PSF only: the noise is then read from the image.
PSF_ONLY = ("beads", "optics", "metadata")


@dataclass
class Steered:
    """The condition a job runs with and how it was chosen."""

    condition: tuple[float, float, float, float]
    note: str
    warnings: list[str] = field(default_factory=list)
    #: where each value came from ("sigma", "noise"): "the fit", "typed in", ...
    sources: dict[str, str] = field(default_factory=dict)
    #: the same as tags of :data:`SOURCES` ("fit", "beads", ..., "auto")
    tags: dict[str, str] = field(default_factory=dict)


def is_degradation_aware(net) -> bool:
    """Whether a network takes a degradation condition."""
    return bool(getattr(net, "conditioned", False))


def is_degradation_aware_arch(arch: str | None) -> bool:
    """Whether models of the architecture ``arch`` (a model JSON's ``arch``) take one."""
    from ..archs import ARCHS

    spec = ARCHS.get(str(arch))
    return spec is not None and bool(getattr(spec.generator, "conditioned", False))


def resolve_steering(steer: Steering | None, net, meta: dict, inp, stats) -> Steered:
    """The condition of ``net`` for the image ``inp`` (normalised by ``stats``).

    Parameters
    ----------
    steer : Steering or None
        What the user gave (``None``: everything automatic).
    net : DegradationAwareSRResNet
    meta : dict
        The model's JSON (its trained ranges and card defaults).
    inp : SRInput
        The canonical input (for the noise estimate, pixel size and optics metadata).
    stats : (low, high) per channel, or None
        The job's intensity normalisation (``None``: intensities are used as they are).
    """
    steer = steer or Steering()
    s = int(net.scale)
    span = _span(stats)
    where: dict[str, str] = {}
    tags: dict[str, str] = {}
    sigma_yx: tuple[float, float] | None = None
    noise_std = poisson_a = None
    if steer.fit is not None:
        f = steer.fit
        k = s / f.scale
        sigma_yx = (f.sigma_yx[0] * k, f.sigma_yx[1] * k)
        tag, origin = _FIT_ORIGIN.get(f.source, ("typed", f"the degradation ({f.source})"))
        rescaled = f", its x{f.scale} PSF rescaled to x{s}" if f.scale != s else ""
        where["sigma"], tags["sigma"] = origin + rescaled, tag
        if tag not in PSF_ONLY:
            noise_std = f.noise_std / span
            poisson_a = (f.poisson_a or 0.0) / span
            where["noise"], tags["noise"] = origin, tag
    if steer.optics is not None:
        sigma = _optics_sigma(steer.optics, inp, s)
        sigma_yx, where["sigma"], tags["sigma"] = (sigma, sigma), "the optics given", "optics"
    if steer.sigma is not None:
        sigma_yx, where["sigma"], tags["sigma"] = (steer.sigma, steer.sigma), "typed in", "typed"
    if steer.noise_std is not None:
        noise_std, where["noise"], tags["noise"] = steer.noise_std, "typed in", "typed"
    if steer.poisson_a is not None:
        poisson_a = steer.poisson_a
    if sigma_yx is None:
        sigma_yx, where["sigma"], tags["sigma"] = _default_sigma(meta, inp, s)
    unread: list[str] = []
    if noise_std is None:
        noise_std, unread = _estimated_noise(inp, stats, meta)
        where["noise"] = (
            "assumed; not estimable from the image" if unread else "estimated from the image"
        )
        tags["noise"] = "auto"
    poisson_a = float(poisson_a or 0.0)
    condition = (float(sigma_yx[0]), float(sigma_yx[1]), float(noise_std), poisson_a)
    note = (
        f"degradation: PSF sigma {_sigma_text(sigma_yx, inp, s)} ({where['sigma']}), noise "
        f"{100 * noise_std:.2f} % of the intensity range ({where['noise']})"
        + (f", Poisson gain {poisson_a:.2g}" if poisson_a else "")
    )
    warnings = unread + _range_warnings(meta, condition)
    return Steered(condition, note, warnings, dict(where), tags)


def _sigma_text(sigma_yx, inp, scale: int) -> str:
    """``4.70 HR px = 71 nm`` (nm where the image states its pixel size)."""
    sy, sx = sigma_yx
    text = f"{sy:.2f}" if abs(sy - sx) < 1e-6 else f"{sy:.2f} x {sx:.2f}"
    px = _pixel_um(inp)
    if px is None:
        return f"{text} HR px"
    hr_nm = 1000.0 * px / scale
    nm = f"{sy * hr_nm:.0f}" if abs(sy - sx) < 1e-6 else f"{sy * hr_nm:.0f} x {sx * hr_nm:.0f}"
    return f"{text} HR px = {nm} nm"


def _span(stats) -> float:
    if stats is None:
        return 1.0
    lo, hi = (np.asarray(v, dtype=np.float64) for v in stats)
    span = float(np.mean(hi - lo))
    return span if span > 0 else 1.0


def _optics_sigma(optics: Optics, inp, scale: int) -> float:
    from ..degradation.optics import sigma_from_optics

    if optics.pixel_nm is not None:
        pixel_um = optics.pixel_nm / 1000.0
    else:
        pixel_um = _pixel_um(inp)
        if pixel_um is None:
            raise InputError(
                "the optics need the LR pixel size: give pixel=.. (nm), or an image that "
                "states its pixel size"
            )
    return sigma_from_optics(optics.wavelength_nm, optics.na, pixel_um, scale, optics.modality)


def _pixel_um(inp) -> float | None:
    """The image's pixel size along x in micrometres (``None`` when it states none, or a
    scale without a length unit, as a napari layer has by default)."""
    from ..io.units import length_unit, to_micrometres

    size = inp.pixel_size.get("x") if inp is not None else None
    if size is None:
        return None
    unit = inp.units.get("x")
    if unit is None or length_unit(unit) is None:  # a scale without a unit: no physical size
        return None
    return to_micrometres(size, unit)


def _default_sigma(meta: dict, inp, scale: int) -> tuple[tuple[float, float], str, str]:
    """The PSF width when none is given, its origin in words and its tag: the PSF an adapted
    model was adapted to, else the file's optics, else the image's own estimate where the card
    allows it, else the card's default."""
    steering = meta.get("steering") or {}
    if steering.get("source") == "adapted" and steering.get("sigma") is not None:
        sy = float(steering.get("sigma_y", steering["sigma"]))
        sx = float(steering.get("sigma_x", steering["sigma"]))
        return (sy, sx), "the PSF this model was adapted to", "adapted"
    found = getattr(inp, "optics", None) or {}
    if "na" in found and "wavelength_nm" in found and _pixel_um(inp):
        try:
            optics = Optics(
                na=found["na"],
                wavelength_nm=found["wavelength_nm"],
                modality=found.get("modality") or "widefield",
            )
            sigma = _optics_sigma(optics, inp, scale)
            return (
                (sigma, sigma),
                (
                    f"the image's metadata: NA {found['na']:g}, emission "
                    f"{found['wavelength_nm']:g} nm, pixel {1000 * _pixel_um(inp):.4g} nm, "
                    f"{optics.modality}"
                ),
                "metadata",
            )
        except (InputError, ValueError):
            pass
    if steering.get("sigma_from_image") and inp is not None:
        sigma = _image_sigma(inp, scale, meta)
        if sigma is not None:
            return (
                (sigma, sigma),
                (
                    "estimated from the image, which can read a sharp image as blurred: give the "
                    "width if you know it; the image states no optics"
                ),
                "auto",
            )
    card = steering.get("sigma")
    if card is None:
        trained = (meta.get("degradation") or {}).get("sigma") or [scale * 0.25, scale * 0.6]
        card = float(np.mean(trained))
    return (
        (float(card), float(card)),
        (
            "the model card's default; the image states no optics: a fit, beads or the optics "
            "give a better result"
        ),
        "auto",
    )


def _central_crop(inp, side: int = 1024) -> np.ndarray:
    """The central ``side`` x ``side`` crop (Y, X, C) of the middle plane of the input, where
    the noise and the PSF width are read."""
    data = inp.data
    lead = tuple(n // 2 for n in data.shape[:-3])
    h, w = data.shape[-3:-1]
    y0, x0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return np.asarray(data[lead + (slice(y0, y0 + side), slice(x0, x0 + side))])


def _image_sigma(inp, scale: int, meta: dict) -> float | None:
    """PSF sigma (HR px) read from a central plane by the learned estimator, kept inside the
    model's trained range; None where the plane is too small or flat to read."""
    from ..degradation.blur_estimate import estimate_sigma

    crop = _central_crop(inp)  # the estimator reads the centre of it
    try:  # the mean over channels, as for the noise
        sigma = float(np.mean([estimate_sigma(crop[..., c], scale) for c in range(crop.shape[-1])]))
    except InputError:
        return None
    trained = (meta.get("degradation") or {}).get("sigma")
    if trained:
        sigma = float(np.clip(sigma, float(trained[0]), float(trained[1])))
    return round(sigma, 2)


#: Noise std (fraction of the range) assumed where the image does not let it be estimated
#: (e.g. a background clipped at zero) and the model card names none.
FALLBACK_NOISE_STD = 0.02


def _estimated_noise(inp, stats, meta: dict) -> tuple[float, list[str]]:
    """Noise standard deviation of a central crop of one plane, per channel, in the job's
    normalised units (the mean over channels), and a warning for every channel whose noise
    could not be estimated: those take the card's ``steering.noise_std`` (else
    :data:`FALLBACK_NOISE_STD`), so that automatic steering still gives a result."""
    from ..degradation.noiselevel import estimate_noise

    crop = _central_crop(inp)
    los, his = stats if stats is not None else (None, None)
    fallback = float((meta.get("steering") or {}).get("noise_std", FALLBACK_NOISE_STD))
    values, warnings = [], []
    for c in range(crop.shape[-1]):
        plane = crop[..., c].astype(np.float64)
        try:
            var, _ = estimate_noise(plane)
        except InputError as err:
            where = f" of channel {c}" if crop.shape[-1] > 1 else ""
            warnings.append(
                f"the noise{where} could not be estimated from the image ({err}); "
                f"{100 * fallback:g} % of the intensity range was assumed: give it for a "
                "better result (--noise-std, a fit JSON, or the Degradation group)"
            )
            values.append(fallback)
            continue
        span = 1.0 if los is None else float(his[c] - los[c]) or 1.0
        values.append(float(np.sqrt(var)) / span)
    return float(np.mean(values)), warnings


#: Allowed excess over the trained range before a value counts as outside it.
RANGE_TOLERANCE = 0.02


def _range_warnings(meta: dict, condition) -> list[str]:
    deg = meta.get("degradation") or {}
    if deg.get("mode") != "blind":
        return []
    out = []
    checks = [
        (
            "PSF sigma",
            max(condition[0], condition[1]),
            min(condition[0], condition[1]),
            deg.get("sigma"),
            "HR px",
            1.0,
        ),
        ("noise", condition[2], condition[2], deg.get("noise_std"), "% of the range", 100.0),
        ("Poisson gain", condition[3], condition[3], deg.get("poisson_a") or [0.0, 0.0], "", 1),
    ]
    for name, high, low, trained, unit, k in checks:
        if trained is None:
            continue
        lo, hi = float(trained[0]), float(trained[1])
        pad = RANGE_TOLERANCE * max(hi - lo, 1e-3)
        if high > hi + pad or low < lo - pad:
            value = high if high > hi + pad else low
            u = f" {unit}" if unit else ""
            out.append(
                f"{name} {k * value:.3g}{u} is outside the range this model was trained "
                f"on ({k * lo:.3g} to {k * hi:.3g}{u}): its output there is an extrapolation"
            )
    return out


def _number(value: str, key: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InputError(f"optics: {key} must be a number, got {value!r}") from None
