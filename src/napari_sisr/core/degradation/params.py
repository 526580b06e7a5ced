"""The degradation model's parameters: one fixed model, or ranges for a blind model.

Both are pydantic v2 models: built and validated when a job starts (never kept as widget
state), with a ``version`` field, round-tripping through JSON files. The defaults here are the
package's defaults everywhere (command line, widgets, Python).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import InputError
from ..io.atomic import atomic_write_text
from ..limits import MAX_SCALE, MAX_SIGMA_HR

CONFIG_VERSION = 1
#: Largest translation between an HR and an LR field, HR pixels (a gigapixel slide's side).
MAX_SHIFT = 100_000.0


#: Largest intensity (LR units) an offset or a noise std may reach, and largest gain: with
#: them, any image of float32 values simulates to finite float32 values.
MAX_INTENSITY = 1e15
MAX_GAIN = 1e12


class DegradationParams(BaseModel):
    """Parameters of the physical degradation model.

    ``LR = gain * D_s(K_sigma * T_shift(HR)) + offset + noise``

    Attributes
    ----------
    scale : int
        Integer down-scaling factor ``s``; ``D_s`` is the mean over each ``s x s`` block.
    sigma : float
        Standard deviation of the Gaussian PSF in HR pixels, excluding pixel integration.
        For an anisotropic PSF it is always the geometric mean of ``sigma_y`` and ``sigma_x``
        (derived from them when they are given; a ``sigma`` that disagrees is refused). Change
        it with :meth:`with_sigma`.
    sigma_y, sigma_x : float, optional
        Per-axis PSF widths (HR pixels), both or neither; ``None`` means ``sigma``.
    sigma_z : float, optional
        PSF width along Z (planes) for 3D blur of z-stacks; ``None`` blurs plane by plane.
    noise_var : float
        Variance of the additive Gaussian noise, in LR intensity units (``b`` of the
        Poisson-Gaussian model).
    poisson_a : float, optional
        Signal-dependent noise gain ``a``: the noise variance is ``a * signal + noise_var``.
    shift_yx : (float, float)
        Translation of the HR content before blurring, in HR pixels:
        ``T_shift(HR)(y, x) = HR(y - dy, x - dx)``.
    gain, offset : float
        Linear intensity mapping from HR to LR units.
    residual_std, residual_lag1 : float, optional
        Fit diagnostics: standard deviation of (real LR - noise-free simulated LR) and its mean
        lag-1 autocorrelation (near 0 for white noise).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    version: int = CONFIG_VERSION
    scale: int = Field(4, description="Integer down-scaling factor")
    sigma: float = Field(1.5, ge=0.0, le=MAX_SIGMA_HR)
    sigma_y: float | None = Field(None, ge=0.0, le=MAX_SIGMA_HR)
    sigma_x: float | None = Field(None, ge=0.0, le=MAX_SIGMA_HR)
    sigma_z: float | None = Field(None, ge=0.0, le=MAX_SIGMA_HR)
    # intensity bounds keep every simulated value finite (float32 holds 3.4e38)
    noise_var: float = Field(0.0, ge=0.0, le=MAX_INTENSITY**2)
    poisson_a: float | None = Field(None, ge=0.0, le=MAX_INTENSITY)
    shift_yx: tuple[float, float] = (0.0, 0.0)  # bounded by _check_shift
    gain: float = Field(1.0, ge=-MAX_GAIN, le=MAX_GAIN)
    offset: float = Field(0.0, ge=-MAX_INTENSITY, le=MAX_INTENSITY)
    residual_std: float | None = None
    residual_lag1: float | None = None
    source: str = Field("manual", description="'manual', 'fit', 'unpaired', 'optics' or 'tuned'")
    notes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("scale")
    @classmethod
    def _check_scale(cls, v: int) -> int:
        if v < 1 or v > MAX_SCALE:
            raise InputError(f"scale must be an integer between 1 and {MAX_SCALE}, got {v}")
        return v

    @field_validator("shift_yx")
    @classmethod
    def _check_shift(cls, v: tuple[float, float]) -> tuple[float, float]:
        if any(abs(float(x)) > MAX_SHIFT for x in v):
            raise InputError(
                f"shift {v} is implausibly large: at most {MAX_SHIFT:g} HR px along each axis"
            )
        return v

    @field_validator("gain")
    @classmethod
    def _check_gain(cls, v: float) -> float:
        if not math.isfinite(v) or v == 0:
            raise InputError(f"gain must be finite and non-zero, got {v}")
        return v

    @model_validator(mode="before")
    @classmethod
    def _tie_sigma(cls, data: Any) -> Any:
        """``sigma`` is the geometric mean of ``sigma_y`` and ``sigma_x`` when those are set."""
        if not isinstance(data, dict):
            return data
        sy, sx = data.get("sigma_y"), data.get("sigma_x")
        if (sy is None) != (sx is None):
            raise InputError("give both sigma_y and sigma_x, or neither")
        if sy is None:
            return data
        try:
            mean = math.sqrt(float(sy) * float(sx))
        except (TypeError, ValueError):
            return data  # the field validators name the bad value
        given = data.get("sigma")
        if given is not None and not math.isclose(float(given), mean, rel_tol=0.01):
            raise InputError(
                f"sigma {given} is not the geometric mean of sigma_y {sy} and sigma_x {sx} "
                f"({mean:.4g}): leave sigma out, or change the PSF with with_sigma()"
            )
        return {**data, "sigma": mean}

    # ------------------------------------------------------------------ helpers
    @property
    def sigma_yx(self) -> tuple[float, float]:
        """PSF widths ``(sigma_y, sigma_x)`` in HR pixels."""
        if self.sigma_y is not None and self.sigma_x is not None:
            return float(self.sigma_y), float(self.sigma_x)
        return float(self.sigma), float(self.sigma)

    @property
    def anisotropic(self) -> bool:
        return self.sigma_y is not None

    def updated(self, **changes: Any) -> DegradationParams:
        """A validated copy with some fields changed (``sigma``: see :meth:`with_sigma`)."""
        if {"sigma_y", "sigma_x"} & changes.keys():
            raise InputError("change sigma_y / sigma_x with with_sigma(sigma_yx=...)")
        if "sigma" in changes:
            sigma = changes.pop("sigma")
            return self.updated(**changes).with_sigma(sigma)
        return _validated(type(self), {**self.model_dump(), **changes})

    def with_sigma(
        self, sigma: float | None = None, *, sigma_yx: tuple[float, float] | None = None
    ) -> DegradationParams:
        """A copy with another PSF width; the one way to change ``sigma``.

        ``sigma`` rescales the PSF and keeps its shape: an anisotropic PSF stays anisotropic
        with the same ``sigma_y / sigma_x`` ratio, ``sigma`` being their geometric mean.
        ``sigma_yx`` sets both widths (equal widths make the PSF isotropic).
        """
        if (sigma is None) == (sigma_yx is None):
            raise InputError("give sigma or sigma_yx")
        data = self.model_dump()
        if sigma_yx is not None:
            sy, sx = (float(v) for v in sigma_yx)
            if sy == sx:
                data.update(sigma=sy, sigma_y=None, sigma_x=None)
            else:
                data.update(sigma=None, sigma_y=sy, sigma_x=sx)
        elif self.anisotropic and self.sigma > 0:
            f = float(sigma) / self.sigma
            data.update(sigma=None, sigma_y=self.sigma_y * f, sigma_x=self.sigma_x * f)
        else:
            data.update(sigma=float(sigma), sigma_y=None, sigma_x=None)
        return _validated(type(self), data)

    @property
    def noise_std(self) -> float:
        """Standard deviation of the additive Gaussian noise (LR units)."""
        return math.sqrt(self.noise_var)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the parameters as JSON (atomically) and return the path."""
        atomic_write_text(path, self.model_dump_json(indent=2) + "\n")
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> DegradationParams:
        """Read parameters written by :meth:`save` (or any JSON with the same keys)."""
        from ..io.guard import load_json

        path = Path(path)
        data = load_json(path, "degradation file")
        if not isinstance(data, dict):
            raise InputError(f"{path} does not hold degradation parameters (a JSON object)")
        return _validated(cls, data, where=f"{path}: ")

    def summary(self) -> dict[str, Any]:
        """The stable, flat JSON summary printed by ``napari-sisr fit``."""
        out = self.model_dump(mode="json")
        out.pop("notes", None)
        return out


def _validated(cls, data: dict, where: str = ""):
    """``cls.model_validate(data)``, its errors raised as one :class:`InputError` line."""
    from pydantic import ValidationError

    from ..errors import describe

    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise InputError(where + describe(err)) from None


#: Default PSF range of a blind model, as multiples of the scale (HR pixels): a PSF between a
#: quarter and 0.6 of an LR pixel wide (standard deviation).
BLIND_SIGMA_PER_SCALE = (0.25, 0.6)
#: Default noise range of a blind model (standard deviation, fraction of the intensity range).
BLIND_NOISE_STD = (0.0, 0.05)


class DegradationRange(BaseModel):
    """Ranges of degradation parameters for a blind model, sampled per training patch.

    Intensities are in *normalised* units: the HR image is mapped to roughly [0, 1] by its
    percentiles, so ``noise_std`` is a fraction of the image's intensity range.

    Attributes
    ----------
    scale : int, optional
        Down-scaling factor. Leave it unset in a training config: the range inherits the
        config's scale (a scale given here must agree with it).
    sigma : (float, float), optional
        Range of the Gaussian PSF width, HR pixels (uniform). Default: ``0.25`` to ``0.6``
        times the scale (:data:`BLIND_SIGMA_PER_SCALE`).
    noise_std : (float, float)
        Range of the Gaussian noise standard deviation, fraction of the range (uniform).
    poisson_a : (float, float), optional
        Range of the Poisson gain in normalised units (noise variance ``a * signal + std**2``).
    noise_sampling : {"uniform", "log"}
        How ``noise_std`` is drawn: uniformly, or uniformly in its logarithm (as many clean
        as noisy patches per decade of noise; needs a minimum above 0).
    content_sigma : (float, float), optional
        Range of a Gaussian blur (HR pixels) applied to the HR patch itself, target included,
        before its LR is simulated. It shows a blind model that some specimens are soft, so it
        does not sharpen every smooth image as if the optics had blurred it.
    content_noise : (float, float), optional
        Range of a Gaussian noise std (fraction of the range) added to the HR patch itself,
        target included, before its LR is simulated: the HR capture's own noise. It shows a
        model that part of what the LR carries is noise the HR image holds too, which it
        should neither sharpen nor wipe out. Not part of the condition a degradation-aware
        model is told (a fit of a real pair does not see it either).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    scale: int | None = Field(None, ge=1, le=MAX_SCALE)
    sigma: tuple[float, float] | None = None
    noise_std: tuple[float, float] = BLIND_NOISE_STD
    poisson_a: tuple[float, float] | None = None
    noise_sampling: Literal["uniform", "log"] = "uniform"
    content_sigma: tuple[float, float] | None = None
    content_noise: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _check_log_noise(self) -> DegradationRange:
        if self.noise_sampling == "log" and self.noise_std[0] <= 0:
            raise InputError(
                f"log noise sampling needs a noise_std minimum above 0, got {self.noise_std}"
            )
        return self

    @field_validator("sigma", "noise_std", "poisson_a", "content_sigma", "content_noise")
    @classmethod
    def _check_range(cls, v, info):
        if v is None:
            return v
        lo, hi = float(v[0]), float(v[1])
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0 or hi < lo:
            raise InputError(f"{info.field_name} range must be 0 <= min <= max, got {v}")
        if info.field_name in ("sigma", "content_sigma") and hi > 64:
            raise InputError(f"sigma range {v} is implausibly large (HR pixels, max 64)")
        return (lo, hi)

    def for_scale(self, scale: int) -> DegradationRange:
        """This range at ``scale`` with every default resolved (what training samples from)."""
        if self.scale is not None and self.scale != scale:
            raise InputError(
                f"the blind ranges are for scale {self.scale} but training is at scale {scale}"
            )
        sigma = self.sigma or tuple(round(f * scale, 6) for f in BLIND_SIGMA_PER_SCALE)
        return self.model_copy(update={"scale": int(scale), "sigma": sigma})

    def _resolved(self) -> DegradationRange:
        if self.scale is None:
            raise InputError("the blind ranges have no scale: call for_scale(scale) first")
        return self if self.sigma is not None else self.for_scale(self.scale)

    def sample(self, rng: np.random.Generator) -> DegradationParams:
        """Draw one parameter set (normalised units) from the ranges."""
        r = self._resolved()
        sigma = float(rng.uniform(*r.sigma))
        if r.noise_sampling == "log":
            std = float(np.exp(rng.uniform(*np.log(r.noise_std))))
        else:
            std = float(rng.uniform(*r.noise_std))
        a = float(rng.uniform(*r.poisson_a)) if r.poisson_a else None
        return DegradationParams(
            scale=r.scale, sigma=round(sigma, 2), noise_var=std**2, poisson_a=a
        )

    def sample_content_sigma(self, rng: np.random.Generator) -> float:
        """Blur of the HR patch itself (HR px; 0 without ``content_sigma``)."""
        return float(rng.uniform(*self.content_sigma)) if self.content_sigma else 0.0

    def sample_content_noise(self, rng: np.random.Generator) -> float:
        """Noise std of the HR patch itself (fraction of the range; 0 without
        ``content_noise``)."""
        return float(rng.uniform(*self.content_noise)) if self.content_noise else 0.0

    def midpoint(self) -> DegradationParams:
        """The parameter set at the middle of every range (used for validation)."""
        r = self._resolved()
        a = float(np.mean(r.poisson_a)) if r.poisson_a else None
        std = float(np.mean(r.noise_std))
        return DegradationParams(
            scale=r.scale, sigma=float(np.mean(r.sigma)), noise_var=std**2, poisson_a=a
        )
