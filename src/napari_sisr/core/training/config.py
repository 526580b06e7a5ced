"""Training configuration: validated pydantic models with cross-field checks.

A :class:`TrainConfig` is built and validated when training starts; a JSON copy (without the
image arrays) is written beside every checkpoint and model file. Its field defaults are the
training defaults of the command line, the Train widget and Python alike. Image sources (file
paths or in-memory arrays from napari layers) are excluded from the JSON dump;
:func:`.images.describe_sources` gives the names that are recorded instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from ..degradation.params import DegradationParams, DegradationRange
from ..errors import InputError
from ..limits import MAX_SCALE
from .images import TRAIN_PERCENTILES, describe_sources, image_list
from .schedule import (
    PRESET_TRAINING,
    default_adversarial,
    default_ema_warmup,
    default_patience,
)
from .start import AUTO_INIT, bundled_start, check_rescaling

TRAIN_CONFIG_VERSION = 1

#: Scale of a run that states none (no scale, no fit, no model to fine-tune): the degradation
#: model's default scale.
DEFAULT_SCALE = DegradationParams.model_fields["scale"].default

#: Share of training patches taken from the real LR captures when they are given (``real_lr``)
#: and no share is. On real pairs, mixing real and simulated patches beat all-simulated
#: training, and three quarters real beat half real by 0.04 dB on average over 18 test
#: halves; all-real training (the paired mode, also from the bundled model) scored level with
#: it (benchmarks/bench_real_pairs.py, benchmarks/reports/real-captures-history.md).
REAL_FRACTION = 0.75

#: Smallest LR patch (pixels) the generators and discriminators are checked with.
MIN_LR_PATCH = 8


class TrainConfig(BaseModel):
    """Everything that defines a training run.

    Image inputs (``hr``, ``val``, ``lr_images``) are file paths or arrays (e.g. napari layer
    data) of shape ``(..., Y, X)``; leading axes (Z, T, or channels with ``channel_axis``) are
    planes. They are excluded from the JSON dump. Unset ``arch``, ``preset``, ``scale`` and
    ``in_channels`` come from the ``init`` model when fine-tuning, else from the defaults.

    The scale is stated once: ``scale`` here, or else the scale of the ``degradation`` (a fit
    knows its scale) or of the ``init`` model, else :data:`DEFAULT_SCALE`. A degradation or
    blind range given without a scale inherits it; one given with another scale is refused.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, allow_inf_nan=False)

    version: int = TRAIN_CONFIG_VERSION
    # ---- data
    hr: list[Any] = Field(default_factory=list, exclude=True, description="HR images")
    val: list[Any] | None = Field(None, exclude=True, description="held-out HR images")
    lr_images: list[Any] | None = Field(
        None, exclude=True, description="paired mode: registered real LR images, one per HR"
    )
    val_lr_images: list[Any] | None = Field(None, exclude=True)
    real_lr: list[Any] | None = Field(
        None,
        exclude=True,
        description="real LR captures of the HR images (the pairs the degradation was fitted "
        "on): a share of the training patches (real_fraction) take their LR from them, and the "
        "held-out part is validated, and the best model chosen, on the real captures",
    )
    real_fraction: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="with real_lr: the share of training patches whose LR is the real capture "
        f"(registered by the fit) instead of a simulation; {REAL_FRACTION} when real_lr is "
        "given and this is not, 0 to validate on the real captures only",
    )
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    channel_axis: int | None = None
    rgb: bool | None = None
    in_channels: int | None = Field(None, ge=1, le=16)
    percentiles: tuple[float, float] = TRAIN_PERCENTILES
    normalise_by: Literal["lr", "hr"] = Field(
        "lr",
        description="map HR planes so that their simulated LR spans the percentiles (as "
        "inference maps a real LR capture), or by the HR planes' own percentiles",
    )
    degradation: DegradationParams | None = None
    blind: DegradationRange | None = None
    patch: int = Field(128, ge=16, le=4096, description="HR patch size (pixels)")
    batch: int = Field(8, ge=1, le=4096)
    val_max_size: int = Field(512, ge=32, description="validation images cropped to this (HR)")
    # ---- model
    scale: int | None = Field(None, ge=1, le=MAX_SCALE)
    arch: str | None = None
    preset: str | None = None
    arch_overrides: dict[str, Any] = Field(default_factory=dict)
    init: str | None = Field(
        AUTO_INIT,
        description="start from this model (path or name); 'auto': the bundled model of the "
        "scale where the run's network is its own (see training.start); None: random weights",
    )
    # ---- schedule
    iters: int = Field(2000, ge=1, le=10**9)
    warmup: int | None = Field(
        None, ge=0, description="content-only generator steps before the GAN (default: preset)"
    )
    adversarial: bool | None = Field(
        None,
        description="add the adversarial (GAN) phase; default: on a GPU, off on a CPU (where "
        "it costs time and PSNR a short run cannot spare)",
    )
    net_d_iters: int = Field(1, ge=1, description="discriminator updates per generator update")
    #: (``lr`` and ``lr_d``, their names before, are still read: saved runs, older scripts)
    learning_rate: float | None = Field(
        None,
        gt=0,
        validation_alias=AliasChoices("learning_rate", "lr"),
        description="learning rate (default: preset)",
    )
    learning_rate_d: float | None = Field(
        None,
        gt=0,
        validation_alias=AliasChoices("learning_rate_d", "lr_d"),
        description="the discriminator's learning rate (default: the generator's)",
    )
    schedule: Literal["step", "cosine", "constant"] = "step"
    betas: tuple[float, float] = (0.9, 0.99)
    ema: float | None = Field(0.999, ge=0.0, lt=1.0)
    ema_warmup: float | None = Field(
        None,
        gt=1.0,
        description="the average's decay after n steps is min(ema, (1 + n) / (ema_warmup + n)): "
        "2 weighs every step alike, 10 forgets the first ones fast (default: 2 for a "
        "content-only run from a trained model, else 10)",
    )
    grad_clip: float | None = Field(1.0, gt=0)
    loss_weights: dict[str, Any] | None = None
    vgg_weights: str | None = None
    # ---- bookkeeping
    val_every: int = Field(200, ge=1)
    patience: int | None = Field(
        None,
        ge=0,
        description="stop a content-only run when its validation PSNR has not improved for "
        "this many steps (default: a third of iters, at least 2 validations; 0: never)",
    )
    preview_every: int | None = Field(None, ge=1)
    checkpoint_every: int | None = Field(None, ge=1)
    log_every: int = Field(10, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    export: Literal["best", "last"] = "best"
    seed: int = Field(0, ge=0, lt=2**32, description="seed of the run's random numbers")
    device: str = Field("auto", description="'auto' (a GPU when there is one), 'cpu', 'cuda:N'")
    threads: int | None = Field(None, ge=1, description="CPU threads of this run's torch")
    out: Path | None = None
    resume: bool = False
    overwrite: bool = False

    @field_validator("hr", mode="before")
    @classmethod
    def _hr_list(cls, v: Any) -> list:
        return image_list(v)

    @field_validator("val", "lr_images", "val_lr_images", "real_lr", mode="before")
    @classmethod
    def _image_lists(cls, v: Any) -> list | None:
        return image_list(v, required=False)

    @field_validator("out", mode="before")
    @classmethod
    def _check_out(cls, v: Any) -> Any:
        if v is not None and not str(v).strip():
            raise InputError("the run folder (out) is empty: name a folder")
        return v

    @field_validator("percentiles")
    @classmethod
    def _check_percentiles(cls, v):
        if not 0 <= v[0] < v[1] <= 100:
            raise InputError(f"percentiles must satisfy 0 <= low < high <= 100, got {v}")
        return v

    @model_validator(mode="after")
    def _resolve_and_check(self) -> TrainConfig:
        from ..archs import get_spec

        if self.init == AUTO_INIT:
            self.init = self._auto_start()
        if self.init is not None:
            self._adopt_init()
        self.arch = self.arch or "srresnet"
        spec = get_spec(self.arch)
        self.preset = self.preset or (
            "fast" if "fast" in spec.presets else next(iter(spec.presets))
        )
        self.scale = self._stated_scale() or DEFAULT_SCALE
        if self.adversarial is None:
            self.adversarial = default_adversarial(self.device)
        self.in_channels = self.in_channels or 1
        if self.preset not in spec.presets:
            raise InputError(
                f"architecture {self.arch!r} has no preset {self.preset!r}; "
                f"choose from {sorted(spec.presets)}"
            )
        if self.scale not in spec.scales:
            raise InputError(
                f"architecture {self.arch!r} does not support scale {self.scale}; "
                f"supported: {list(spec.scales)}"
            )
        self._check_arch_overrides(spec)
        defaults = PRESET_TRAINING.get(self.preset, PRESET_TRAINING["*"])
        if self.learning_rate is None:
            self.learning_rate = defaults["lr"]
        if self.warmup is None:
            self.warmup = int(self.iters * defaults["warmup_fraction"]) if self.adversarial else 0
        self._resolve_patience()
        if self.ema_warmup is None:
            self.ema_warmup = default_ema_warmup(self.init, self.adversarial)
        self.loss_weights = self._resolve_losses(spec, defaults["loss"])
        self._check_patch(spec)
        self._check_degradation()
        if self.lr_images is not None and len(self.lr_images) != len(self.hr):
            raise InputError(
                f"paired mode needs one LR image per HR image: got {len(self.lr_images)} LR "
                f"and {len(self.hr)} HR"
            )
        if self.real_lr is not None:
            self._check_real_lr()
        if self.val_lr_images is not None and not (self.paired and self.val is not None):
            raise InputError("val_lr_images needs paired mode (lr_images) and val images")
        if self.paired and self.val is not None and self.val_lr_images is None:
            raise InputError("paired mode with explicit validation images needs val_lr_images")
        if self.warmup >= self.iters and self.adversarial:
            raise InputError(
                f"warmup ({self.warmup}) must be shorter than iters ({self.iters}) for adversarial "
                "training; set adversarial=False for content-only training"
            )
        return self

    def _resolve_patience(self) -> None:
        if self.adversarial and self.patience:
            raise InputError(
                "early stopping (patience) is for content-only training: an adversarial run "
                "keeps the best generator of its adversarial phase"
            )
        if self.patience is None:
            self.patience = 0 if self.adversarial else default_patience(self.iters, self.val_every)

    def _resolve_losses(self, spec, preset_loss: dict[str, Any]) -> dict[str, Any]:
        """Architecture defaults, then the preset's training override, then the user's."""
        from ..losses import LOSS_KEYS

        user = dict(self.loss_weights or {})
        unknown = sorted(set(user) - set(LOSS_KEYS))
        if unknown:
            raise InputError(f"unknown loss key(s) {unknown}; known: {list(LOSS_KEYS)}")
        weights = {**spec.loss_defaults.get(self.preset, {}), **preset_loss, **user}
        if not any(float(weights.get(k) or 0) > 0 for k in ("pixel_l1", "pixel_mse", "ssim")):
            if not weights.get("dpf_content") and not weights.get("vgg"):
                raise InputError("the loss weights switch every content term off")
        return weights

    def _adopt_init(self) -> None:
        from ..archs import get_spec
        from ..modelio import read_model_meta

        meta = read_model_meta(self.init)
        # a family may start from another's weights (a degradation-aware SRResNet from a plain
        # one of the same trunk)
        grows = self.arch is not None and meta.get("arch") in get_spec(self.arch).init_from
        # a network may start one of a larger scale (a 4x SRResNet an 8x one): start.py
        wanted = self._stated_scale()
        rescales = wanted is not None and wanted != int(meta["scale"])
        if rescales:
            check_rescaling(self.init, meta, self.arch, wanted)
        for key, meta_key in (("arch", "arch"), ("preset", "preset"), ("scale", "scale")):
            mine, theirs = getattr(self, key), meta.get(meta_key)
            if (grows and key == "arch") or (rescales and key == "scale"):
                continue
            if mine is not None and theirs is not None and mine != theirs:
                raise InputError(
                    f"init model {self.init!r} has {key}={theirs!r} but the config asks for "
                    f"{mine!r}; leave {key} unset to fine-tune that model"
                )
        if self.in_channels is not None and self.in_channels != meta["in_channels"]:
            raise InputError(
                f"init model {self.init!r} takes {meta['in_channels']} channel(s) but the "
                f"config asks for {self.in_channels}"
            )
        self.arch = self.arch if grows else meta["arch"]
        self.preset = meta.get("preset") or self.preset
        self.scale = wanted if rescales else int(meta["scale"])
        self.in_channels = int(meta["in_channels"])
        self.arch_overrides = {**meta.get("arch_kwargs", {}), **self.arch_overrides}

    def _auto_start(self) -> str | None:
        """``init="auto"``: the bundled model of the scale, or none (:mod:`.start`)."""
        plain = (
            self.arch in (None, "srresnet")
            and self.preset in (None, "fast")
            and not self.arch_overrides
            and self.in_channels in (None, 1)
            and self.channel_axis is None
            and not self.rgb
        )
        return bundled_start(self._stated_scale() or DEFAULT_SCALE) if plain else None

    def _check_arch_overrides(self, spec) -> None:
        import inspect

        params = inspect.signature(spec.generator).parameters
        known = sorted(k for k in params if k not in ("self", "scale", "in_channels", "preset"))
        unknown = sorted(set(self.arch_overrides) - set(known))
        if unknown:
            raise InputError(
                f"architecture {self.arch!r} has no setting {', '.join(map(repr, unknown))}; "
                f"it takes {', '.join(known)}"
            )
        from ..archs.registry import check_generator

        check_generator(self.arch, self.preset, self.scale, self.in_channels, **self.arch_overrides)

    def _check_patch(self, spec) -> None:
        s = self.scale
        if self.patch % s:
            raise InputError(f"patch {self.patch} is not divisible by the scale {s}")
        multiple = int(getattr(spec, "lr_multiple", 1) or 1)
        lr_patch = self.patch // s
        if lr_patch % multiple:
            raise InputError(
                f"architecture {self.arch!r} needs LR patches divisible by {multiple}; "
                f"patch {self.patch} / scale {s} = {lr_patch}"
            )
        if lr_patch < MIN_LR_PATCH:
            raise InputError(
                f"patch {self.patch} at scale {s} gives {lr_patch}-pixel LR patches; "
                f"use at least {MIN_LR_PATCH * s}"
            )
        if self.adversarial and self.patch < 32:
            raise InputError(
                f"adversarial training needs HR patches of 32 or more, got {self.patch}"
            )
        if self.paired and getattr(spec.generator, "conditioned", False):
            raise InputError(
                f"a degradation-aware generator ({self.arch}) learns from simulated captures "
                "whose degradation it is told: give a degradation (fitted or blind ranges), "
                "not LR images"
            )

    def _stated_scale(self) -> int | None:
        """The run's own scale, else its degradation's (a fit; blind ranges with a scale)."""
        if self.scale:
            return self.scale
        deg = self.degradation
        if deg is not None and "scale" in deg.model_fields_set:
            return deg.scale
        return self.blind.scale if self.blind is not None else None

    def _check_degradation(self) -> None:
        if self.degradation is not None and self.blind is not None:
            raise InputError("give either a fixed degradation or blind ranges, not both")
        deg = self.degradation
        if deg is not None:
            if "scale" in deg.model_fields_set and deg.scale != self.scale:
                raise InputError(
                    f"the degradation parameters are for scale {deg.scale} but training is at "
                    f"scale {self.scale}: fit or choose parameters for scale {self.scale}"
                )
            if deg.scale != self.scale:
                self.degradation = deg.updated(scale=self.scale)
        if self.blind is not None:
            self.blind = self.blind.for_scale(self.scale)
        if self.lr_images is not None and (self.degradation or self.blind):
            raise InputError("paired mode uses real LR images: drop the degradation settings")

    def _check_real_lr(self) -> None:
        if self.paired:
            raise InputError("real_lr is for simulated training: in paired mode drop it")
        if self.degradation is None:
            raise InputError(
                "real_lr needs the degradation fitted on those pairs (its shift registers them)"
            )
        if len(self.real_lr) != len(self.hr):
            raise InputError(
                f"give one real LR capture per HR image: got {len(self.real_lr)} for {len(self.hr)}"
            )
        if self.val is not None:
            raise InputError("real_lr validates on held-out parts of the pairs: drop val")

    @model_validator(mode="after")
    def _check_real_fraction(self) -> TrainConfig:
        if self.real_fraction and self.real_lr is None:
            raise InputError("real_fraction mixes in real LR captures: give them as real_lr")
        if self.real_lr is not None and "real_fraction" not in self.model_fields_set:
            self.real_fraction = REAL_FRACTION
        return self

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
        return self.blind or DegradationRange().for_scale(self.scale)

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the image sources described by name."""
        data = self.model_dump(mode="json")
        data["sources"] = {
            k: describe_sources(getattr(self, k))
            for k in ("hr", "val", "lr_images", "val_lr_images", "real_lr")
            if getattr(self, k) is not None
        }
        return data
