"""Training configuration: validated pydantic models with cross-field checks.

A :class:`TrainConfig` is built and validated when training starts; a JSON copy (without the
image arrays) is written beside every checkpoint and model file. Image sources (file paths or
in-memory arrays from napari layers) are excluded from the JSON dump; :func:`describe_sources`
gives the names that are recorded instead.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .config import DegradationParams

TRAIN_CONFIG_VERSION = 1

#: Smallest LR patch (pixels) the generators and discriminators are checked with.
MIN_LR_PATCH = 8

#: Training defaults per preset, used for what the config leaves unset (``lr``, ``warmup``).
#: The "fast" preset targets short CPU budgets: a higher learning rate and a long pixel-loss
#: warm-up before a short, light adversarial phase give the largest PSNR gain per minute
#: (see benchmarks/bench_train.py). Other presets follow the papers: lr 1e-4, then the GAN
#: from half-way.
#: The fast preset also trains its content term with L1 instead of MSE (sharper, higher PSNR
#: early on); the architecture's other loss terms and weights are kept.
PRESET_TRAINING: dict[str, dict[str, Any]] = {
    "fast": {"lr": 1e-3, "warmup_fraction": 0.8, "loss": {"pixel_l1": 1.0, "pixel_mse": 0.0}},
    "*": {"lr": 1e-4, "warmup_fraction": 0.5, "loss": {}},
}


class DegradationRange(BaseModel):
    """Ranges of degradation parameters for a blind model, sampled per training patch.

    Intensities are in *normalised* units: the HR image is mapped to roughly [0, 1] by its
    percentiles, so ``noise_std`` is a fraction of the image's intensity range.

    Attributes
    ----------
    scale : int
        Down-scaling factor.
    sigma : (float, float)
        Range of the Gaussian PSF width, HR pixels (uniform).
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
    """

    model_config = ConfigDict(extra="forbid")

    scale: int = 4
    sigma: tuple[float, float] = (1.0, 2.5)
    noise_std: tuple[float, float] = (0.0, 0.03)
    poisson_a: tuple[float, float] | None = None
    noise_sampling: Literal["uniform", "log"] = "uniform"
    content_sigma: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _check_log_noise(self) -> DegradationRange:
        if self.noise_sampling == "log" and self.noise_std[0] <= 0:
            raise ValueError(
                f"log noise sampling needs a noise_std minimum above 0, got {self.noise_std}"
            )
        return self

    @field_validator("sigma", "noise_std", "poisson_a", "content_sigma")
    @classmethod
    def _check_range(cls, v, info):
        if v is None:
            return v
        lo, hi = float(v[0]), float(v[1])
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0 or hi < lo:
            raise ValueError(f"{info.field_name} range must be 0 <= min <= max, got {v}")
        if info.field_name in ("sigma", "content_sigma") and hi > 64:
            raise ValueError(f"sigma range {v} is implausibly large (HR pixels, max 64)")
        return (lo, hi)

    def sample(self, rng: np.random.Generator) -> DegradationParams:
        """Draw one parameter set (normalised units) from the ranges."""
        sigma = float(rng.uniform(*self.sigma))
        if self.noise_sampling == "log":
            std = float(np.exp(rng.uniform(*np.log(self.noise_std))))
        else:
            std = float(rng.uniform(*self.noise_std))
        a = float(rng.uniform(*self.poisson_a)) if self.poisson_a else None
        return DegradationParams(
            scale=self.scale, sigma=round(sigma, 2), noise_var=std**2, poisson_a=a
        )

    def sample_content_sigma(self, rng: np.random.Generator) -> float:
        """Blur of the HR patch itself (HR px; 0 without ``content_sigma``)."""
        return float(rng.uniform(*self.content_sigma)) if self.content_sigma else 0.0

    def midpoint(self) -> DegradationParams:
        """The parameter set at the middle of every range (used for validation)."""
        a = float(np.mean(self.poisson_a)) if self.poisson_a else None
        std = float(np.mean(self.noise_std))
        return DegradationParams(
            scale=self.scale, sigma=float(np.mean(self.sigma)), noise_var=std**2, poisson_a=a
        )


class TrainConfig(BaseModel):
    """Everything that defines a training run.

    Image inputs (``hr``, ``val``, ``lr_images``) are file paths or arrays (e.g. napari layer
    data) of shape ``(..., Y, X)``; leading axes (Z, T, or channels with ``channel_axis``) are
    planes. They are excluded from the JSON dump. Unset ``arch``, ``preset``, ``scale`` and
    ``in_channels`` come from the ``init`` model when fine-tuning, else from the defaults.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    version: int = TRAIN_CONFIG_VERSION
    # ---- data
    hr: list[Any] = Field(default_factory=list, exclude=True, description="HR images")
    val: list[Any] | None = Field(None, exclude=True, description="held-out HR images")
    lr_images: list[Any] | None = Field(
        None, exclude=True, description="paired mode: registered real LR images, one per HR"
    )
    val_lr_images: list[Any] | None = Field(None, exclude=True)
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    channel_axis: int | None = None
    rgb: bool | None = None
    in_channels: int | None = Field(None, ge=1, le=16)
    percentiles: tuple[float, float] = (1.0, 99.8)
    degradation: DegradationParams | None = None
    blind: DegradationRange | None = None
    patch: int = Field(128, ge=16, description="HR patch size (pixels)")
    batch: int = Field(8, ge=1)
    val_max_size: int = Field(512, ge=32, description="validation images cropped to this (HR)")
    # ---- model
    scale: int | None = None
    arch: str | None = None
    preset: str | None = None
    arch_overrides: dict[str, Any] = Field(default_factory=dict)
    init: str | None = Field(None, description="fine-tune from this model (path or name)")
    # ---- schedule
    iters: int = Field(10000, ge=1)
    warmup: int | None = Field(
        None, ge=0, description="content-only generator steps before the GAN (default: preset)"
    )
    adversarial: bool = True
    net_d_iters: int = Field(1, ge=1, description="discriminator updates per generator update")
    lr: float | None = Field(None, gt=0, description="learning rate (default: preset)")
    lr_d: float | None = Field(None, gt=0)
    schedule: Literal["step", "cosine", "constant"] = "step"
    betas: tuple[float, float] = (0.9, 0.99)
    ema: float | None = Field(0.999, ge=0.0, lt=1.0)
    grad_clip: float | None = Field(1.0, gt=0)
    loss_weights: dict[str, Any] | None = None
    vgg_weights: str | None = None
    # ---- bookkeeping
    val_every: int = Field(500, ge=1)
    preview_every: int | None = Field(None, ge=1)
    checkpoint_every: int | None = Field(None, ge=1)
    log_every: int = Field(10, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    export: Literal["best", "last"] = "best"
    seed: int = 0
    device: str = "cpu"
    out: Path | None = None
    resume: bool = False
    overwrite: bool = False

    @field_validator("percentiles")
    @classmethod
    def _check_percentiles(cls, v):
        if not 0 <= v[0] < v[1] <= 100:
            raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {v}")
        return v

    @model_validator(mode="after")
    def _resolve_and_check(self) -> TrainConfig:
        from .archs import get_spec

        if self.init is not None:
            self._adopt_init()
        self.arch = self.arch or "srresnet"
        spec = get_spec(self.arch)
        self.preset = self.preset or (
            "fast" if "fast" in spec.presets else next(iter(spec.presets))
        )
        self.scale = self.scale or 4
        self.in_channels = self.in_channels or 1
        if self.preset not in spec.presets:
            raise ValueError(
                f"architecture {self.arch!r} has no preset {self.preset!r}; "
                f"choose from {sorted(spec.presets)}"
            )
        if self.scale not in spec.scales:
            raise ValueError(
                f"architecture {self.arch!r} does not support scale {self.scale}; "
                f"supported: {list(spec.scales)}"
            )
        self._check_arch_overrides(spec)
        defaults = PRESET_TRAINING.get(self.preset, PRESET_TRAINING["*"])
        if self.lr is None:
            self.lr = defaults["lr"]
        if self.warmup is None:
            self.warmup = int(self.iters * defaults["warmup_fraction"]) if self.adversarial else 0
        self.loss_weights = self._resolve_losses(spec, defaults["loss"])
        self._check_patch(spec)
        self._check_degradation()
        if self.lr_images is not None and len(self.lr_images) != len(self.hr):
            raise ValueError(
                f"paired mode needs one LR image per HR image: got {len(self.lr_images)} LR "
                f"and {len(self.hr)} HR"
            )
        if self.val_lr_images is not None and not (self.paired and self.val is not None):
            raise ValueError("val_lr_images needs paired mode (lr_images) and val images")
        if self.paired and self.val is not None and self.val_lr_images is None:
            raise ValueError("paired mode with explicit validation images needs val_lr_images")
        if self.warmup >= self.iters and self.adversarial:
            raise ValueError(
                f"warmup ({self.warmup}) must be shorter than iters ({self.iters}) for adversarial "
                "training; set adversarial=False for content-only training"
            )
        return self

    def _resolve_losses(self, spec, preset_loss: dict[str, Any]) -> dict[str, Any]:
        """Architecture defaults, then the preset's training override, then the user's."""
        from .losses import LOSS_KEYS

        user = dict(self.loss_weights or {})
        unknown = sorted(set(user) - set(LOSS_KEYS))
        if unknown:
            raise ValueError(f"unknown loss key(s) {unknown}; known: {list(LOSS_KEYS)}")
        weights = {**spec.loss_defaults.get(self.preset, {}), **preset_loss, **user}
        if not any(float(weights.get(k) or 0) > 0 for k in ("pixel_l1", "pixel_mse", "ssim")):
            if not weights.get("dpf_content") and not weights.get("vgg"):
                raise ValueError("the loss weights switch every content term off")
        return weights

    def _adopt_init(self) -> None:
        from .modelio import read_model_meta

        meta = read_model_meta(self.init)
        for key, meta_key in (("arch", "arch"), ("preset", "preset"), ("scale", "scale")):
            mine, theirs = getattr(self, key), meta.get(meta_key)
            if mine is not None and theirs is not None and mine != theirs:
                raise ValueError(
                    f"init model {self.init!r} has {key}={theirs!r} but the config asks for "
                    f"{mine!r}; leave {key} unset to fine-tune that model"
                )
        if self.in_channels is not None and self.in_channels != meta["in_channels"]:
            raise ValueError(
                f"init model {self.init!r} takes {meta['in_channels']} channel(s) but the "
                f"config asks for {self.in_channels}"
            )
        self.arch, self.preset = meta["arch"], meta.get("preset") or self.preset
        self.scale, self.in_channels = int(meta["scale"]), int(meta["in_channels"])
        self.arch_overrides = {**meta.get("arch_kwargs", {}), **self.arch_overrides}

    def _check_arch_overrides(self, spec) -> None:
        import inspect

        params = inspect.signature(spec.generator).parameters
        known = sorted(k for k in params if k not in ("self", "scale", "in_channels", "preset"))
        unknown = sorted(set(self.arch_overrides) - set(known))
        if unknown:
            raise ValueError(
                f"architecture {self.arch!r} has no setting {', '.join(map(repr, unknown))}; "
                f"it takes {', '.join(known)}"
            )

    def _check_patch(self, spec) -> None:
        s = self.scale
        if self.patch % s:
            raise ValueError(f"patch {self.patch} is not divisible by the scale {s}")
        multiple = int(getattr(spec, "lr_multiple", 1) or 1)
        lr_patch = self.patch // s
        if lr_patch % multiple:
            raise ValueError(
                f"architecture {self.arch!r} needs LR patches divisible by {multiple}; "
                f"patch {self.patch} / scale {s} = {lr_patch}"
            )
        if lr_patch < MIN_LR_PATCH:
            raise ValueError(
                f"patch {self.patch} at scale {s} gives {lr_patch}-pixel LR patches; "
                f"use at least {MIN_LR_PATCH * s}"
            )
        if self.adversarial and self.patch < 32:
            raise ValueError(
                f"adversarial training needs HR patches of 32 or more, got {self.patch}"
            )

    def _check_degradation(self) -> None:
        if self.degradation is not None and self.blind is not None:
            raise ValueError("give either a fixed degradation or blind ranges, not both")
        for name in ("degradation", "blind"):
            deg = getattr(self, name)
            if deg is not None and deg.scale != self.scale:
                raise ValueError(
                    f"the {name} parameters are for scale {deg.scale} but training is at "
                    f"scale {self.scale}: fit or choose parameters for scale {self.scale}"
                )
        if self.lr_images is not None and (self.degradation or self.blind):
            raise ValueError("paired mode uses real LR images: drop the degradation settings")

    # ---------------------------------------------------------------- helpers
    @property
    def paired(self) -> bool:
        return self.lr_images is not None

    def degradation_model(self) -> DegradationParams | DegradationRange | None:
        """The fixed parameters, the blind ranges, or the default blind ranges."""
        if self.paired:
            return None
        if self.degradation is not None:
            return self.degradation
        if self.blind is not None:
            return self.blind
        s = float(self.scale)
        return DegradationRange(scale=self.scale, sigma=(0.25 * s, 0.6 * s))

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the image sources described by name."""
        data = self.model_dump(mode="json")
        data["sources"] = {
            k: describe_sources(getattr(self, k))
            for k in ("hr", "val", "lr_images", "val_lr_images")
            if getattr(self, k) is not None
        }
        return data


def describe_sources(items) -> list[str]:
    """Human-readable names of image sources: paths as given, arrays by shape and dtype."""
    out = []
    for i, item in enumerate(items or []):
        if isinstance(item, str | Path):
            out.append(str(item))
        else:
            name = getattr(item, "name", None)
            arr = getattr(item, "data", item)
            shape = getattr(arr, "shape", None)
            dtype = getattr(arr, "dtype", "?")
            out.append(f"{name or f'array{i}'} {tuple(shape) if shape else '?'} {dtype}")
    return out
