"""One training run in memory: data, networks, optimisers, losses, and a single step.

:class:`Trainer` builds everything from a :class:`TrainConfig` (deterministically from its seed),
performs one optimisation step at a time, scores the held-out set, and converts its whole state
to tensors + JSON and back for exact resumption. The loop around it (progress, checkpoints,
logs, export) is :func:`napari_sisr.core.training.loop.iter_train`.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from ..degradation.condition import condition_of
from ..degradation.params import DegradationRange
from ..degradation.simulate import soften
from ..devices import torch_device
from ..errors import InputError
from .checkpoint import flatten_optimizer, prefixed, unflatten_optimizer, unprefixed
from .config import TrainConfig
from .ema import EMA
from .images import attach_lr, check_patch_fits, load_images, onto_lr_grid, split_validation
from .patches import Degrader, PatchSampler, ValidationSet, match_inference_normalisation
from .provenance import run_provenance

#: State-dict keys of the condition network of a degradation-aware generator.
COND_PARTS = ("cond_net.", "modulation.")
#: Offset of the validation noise seed from the training seed (the validation LR is fixed).
VAL_SEED_OFFSET = 7919


def training_statistics(images) -> dict:
    """The range of the domain statistics over the training images (for the model card)."""
    from ..inference.domain import image_statistics, statistics_range

    stats = []
    for img in images:
        flat = img.data.reshape(-1)
        stats.append(image_statistics(flat[:: max(1, flat.size // 1_000_000)]))
    return statistics_range(stats)


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; training stopped before applying the bad step."""


def lr_factor(schedule: str, step: int, iters: int) -> float:
    """Learning-rate multiplier at ``step``: 'step' (x0.1 from half-way), 'cosine', 'constant'."""
    if schedule == "step":
        return 1.0 if step < iters // 2 else 0.1
    if schedule == "cosine":
        return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(step, iters) / iters))
    return 1.0


class Trainer:
    """Data, networks and optimisers of one run, and its training step."""

    def __init__(self, config: TrainConfig):
        from ..archs import build_discriminator, build_generator, get_spec

        c = self.config = config
        self.device = torch_device(c.device)
        self.spec = get_spec(c.arch)
        self._load_data()
        with torch.random.fork_rng(devices=[]):  # weight init from the run's seed only
            torch.manual_seed(c.seed)
            self.net_g = build_generator(
                c.arch, c.preset, c.scale, c.in_channels, **c.arch_overrides
            ).to(self.device)
            self.net_d = None
            if c.adversarial:
                self.net_d = build_discriminator(c.arch, c.preset, c.in_channels).to(self.device)
        self.conditioned = bool(getattr(self.net_g, "conditioned", False))  # never paired
        if c.init is not None:
            self._load_init(c.init)
        if self.conditioned:  # what forward(x) uses once exported: the validation condition
            # (blind: the middle of the ranges; fixed: the fit), never an init model's
            self.net_g.set_condition(self.valset.items[0]["cond"][0].tolist())
        self.ema = EMA(self.net_g, c.ema, c.ema_warmup) if c.ema else None
        self.opt_g = torch.optim.Adam(self.net_g.parameters(), lr=c.learning_rate, betas=c.betas)
        self.opt_d = None
        if self.net_d is not None:
            lr_d = c.learning_rate_d or c.learning_rate
            self.opt_d = torch.optim.Adam(self.net_d.parameters(), lr=lr_d, betas=c.betas)
        self.rng = np.random.default_rng(c.seed)
        self.gen = torch.Generator(device=self.device).manual_seed(int(c.seed))
        self.step = 0
        self.last_phase = self.phase
        self.best: dict[str, Any] | None = None
        self.time_data = 0.0
        self.time_total = 0.0
        self._build_losses()

    # ------------------------------------------------------------------ setup
    def _load_data(self) -> None:
        c = self.config
        kw = dict(
            in_channels=c.in_channels,
            channel_axis=c.channel_axis,
            rgb=c.rgb,
            percentiles=c.percentiles,
        )
        if not c.hr:
            raise InputError("no HR images given")
        images = load_images(c.hr, what="HR", **kw)
        if not c.paired and c.normalise_by == "lr":
            images = match_inference_normalisation(images, c.degradation_model(), c.percentiles)
        if c.paired:
            images = attach_lr(images, load_images(c.lr_images, what="LR", **kw), c.scale)
        if c.real_lr:  # real captures, registered by the fit, for validation only
            lows = load_images(c.real_lr, what="real LR", **kw)
            shift = c.degradation.shift_yx
            pairs = zip(images, lows, strict=True)
            images = [onto_lr_grid(h, low, shift, c.scale) for h, low in pairs]
        if c.val:
            train, val = images, load_images(c.val, what="validation", **kw)
            if c.paired:
                val = attach_lr(val, load_images(c.val_lr_images, what="LR", **kw), c.scale)
            self.split = {
                "mode": "explicit",
                "train": [i.name for i in train],
                "val": [i.name for i in val],
            }
        else:
            train, val, self.split = split_validation(images, c.val_fraction, c.patch, c.scale)
        if c.real_lr and not c.real_fraction:
            for img in train:
                img.lr = None  # trained on simulated captures, validated on real ones
        self.provenance = run_provenance(
            train, val, real_lr_trained=bool(c.real_lr and c.real_fraction), paired=c.paired
        )
        check_patch_fits(train, c.patch)
        self.input_statistics = training_statistics(train)
        self.sampler = PatchSampler(train, c.patch, c.scale)
        self.train_images = train
        self.degrader = None if c.paired else Degrader(c.degradation_model())
        self.valset = ValidationSet(
            val, c.scale, self.degrader, c.seed + VAL_SEED_OFFSET, self.device, c.val_max_size
        )

    def _load_init(self, init: str) -> None:
        from ..modelio import load_model

        src = load_model(init, device="cpu")
        state = src.state_dict()
        if self.conditioned and "condition" not in state:
            # a plain SRResNet of the same trunk: its weights start the degradation-aware one
            # (the modulation starts at zero, so the start is exactly the plain network)
            state = {**state, "condition": self.net_g.condition.clone()}
            own = self.net_g.state_dict()
            state.update({k: v for k, v in own.items() if k.startswith(COND_PARTS)})
        if int(src.scale) != self.net_g.scale:  # a smaller scale's model (config checked it)
            self.net_g.load_smaller_scale(state, int(src.scale))
            return
        missing, unexpected = self.net_g.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise InputError(
                f"init model {init!r} does not match {self.config.arch!r}/{self.config.preset!r}"
            )

    def _build_losses(self) -> None:
        from ..losses import build_discriminator_loss, build_generator_loss

        c = self.config
        self.loss_weights = dict(c.loss_weights)
        self.gan_kind = str(self.loss_weights.get("gan", "ns"))
        dpf = getattr(getattr(self.net_g, "dpf", None), "weight", None)
        # One module serves both phases: its adversarial term is added only with logits.
        self.g_loss = build_generator_loss(self.loss_weights, c.vgg_weights, dpf).to(self.device)
        self.d_loss = build_discriminator_loss(self.loss_weights, generator=self.gen)

    # ------------------------------------------------------------------ step
    @property
    def adversarial_now(self) -> bool:
        return self.net_d is not None and self.step >= self.config.warmup

    @property
    def phase(self) -> str:
        return "adversarial" if self.adversarial_now else "content"

    def _batch(self):
        c = self.config
        hr_np, lr_np, origin = self.sampler.draw(c.batch, self.rng)
        hr = torch.from_numpy(hr_np).to(self.device)
        if lr_np is not None and self.degrader is None:  # paired mode
            return hr, torch.from_numpy(lr_np).to(self.device), None
        params = [
            self.degrader.params_for(self.sampler.images[i], plane, self.rng) for i, plane in origin
        ]
        cond = self._condition(params)
        if lr_np is not None:  # real captures and simulations of the same patches, mixed
            real = torch.from_numpy(lr_np).to(self.device)
            keep = torch.from_numpy(self.rng.random(len(origin)) < c.real_fraction)
            sim = self.degrader(hr, params, self.gen)
            mask = keep.to(self.device).view(-1, 1, 1, 1)
            return hr, torch.where(mask, real.to(sim.dtype), sim), cond
        model = self.degrader.model
        if isinstance(model, DegradationRange):  # soft and noisy specimens
            if model.content_sigma:
                hr = soften(hr, [model.sample_content_sigma(self.rng) for _ in origin])
            if model.content_noise:
                std = [model.sample_content_noise(self.rng) for _ in origin]
                std = torch.tensor(std, dtype=hr.dtype, device=hr.device).view(-1, 1, 1, 1)
                noise = torch.randn(hr.shape, generator=self.gen, device=hr.device, dtype=hr.dtype)
                hr = hr + std * noise
        return hr, self.degrader(hr, params, self.gen), cond

    def _condition(self, params):
        """One condition row per patch for a degradation-aware generator (else None)."""
        if not self.conditioned:
            return None
        return torch.tensor([condition_of(p) for p in params], device=self.device)

    def _set_lr(self) -> float:
        c = self.config
        f = lr_factor(c.schedule, self.step, c.iters)
        for g in self.opt_g.param_groups:
            g["lr"] = c.learning_rate * f
        if self.opt_d is not None:
            for g in self.opt_d.param_groups:
                g["lr"] = (c.learning_rate_d or c.learning_rate) * f
        return c.learning_rate * f

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def train_step(self) -> dict[str, float]:
        """One generator update (and its discriminator updates); returns the loss terms."""
        c = self.config
        t0 = time.perf_counter()
        lr_now = self._set_lr()
        adversarial = self.adversarial_now
        data_time = 0.0
        if adversarial:
            for _ in range(c.net_d_iters - 1):  # extra discriminator updates on fresh batches
                td = time.perf_counter()
                hr, lr, cond = self._batch()
                self._sync()
                data_time += time.perf_counter() - td
                with torch.no_grad():
                    sr = self._levels(lr, cond)[-1]
                self._d_update(hr, sr)
        td = time.perf_counter()
        hr, lr, cond = self._batch()
        self._sync()
        data_time += time.perf_counter() - td

        levels = self._levels(lr, cond)
        sr = levels[-1]
        real_logits = fake_logits = None
        if adversarial:
            self.net_d.requires_grad_(False)
            fake_logits = self.net_d(sr)
            if self.gan_kind == "relativistic":
                with torch.no_grad():
                    real_logits = self.net_d(hr)
        target = levels if len(levels) > 1 else sr
        total, terms = self.g_loss(target, hr, real_logits, fake_logits)
        self._check_finite("generator", total, terms)
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        if c.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.net_g.parameters(), c.grad_clip)
        self.opt_g.step()
        out = {"l_g_total": float(total.detach()), **{k: float(v) for k, v in terms.items()}}
        if adversarial:
            self.net_d.requires_grad_(True)
            out.update(self._d_update(hr, sr.detach()))
        if self.ema is not None:
            self.ema.update(self.net_g)
        self._sync()
        self.step += 1
        self.time_data += data_time
        self.time_total += time.perf_counter() - t0
        out["lr"] = lr_now
        self.last_phase = "adversarial" if adversarial else "content"
        return out

    def _levels(self, lr, cond=None) -> list[torch.Tensor]:
        if cond is not None:
            return [self.net_g(lr, cond)]
        fl = getattr(self.net_g, "forward_levels", None)
        return list(fl(lr)) if fl is not None else [self.net_g(lr)]

    def _d_update(self, hr, sr) -> dict[str, float]:
        c = self.config
        real = self.net_d(hr)
        fake = self.net_d(sr)
        l_d, terms = self.d_loss(real, fake)
        self._check_finite("discriminator", l_d, terms)
        self.opt_d.zero_grad(set_to_none=True)
        l_d.backward()
        if c.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.net_d.parameters(), c.grad_clip)
        self.opt_d.step()
        return {
            "l_d": float(l_d.detach()),
            "d_real": float(real.detach().mean()),
            "d_fake": float(fake.detach().mean()),
        }

    def _check_finite(self, which: str, total, terms: dict) -> None:
        if bool(torch.isfinite(total).all()):
            return
        bad = {k: float(v) for k, v in terms.items() if not math.isfinite(float(v))}
        raise TrainingDiverged(
            f"the {which} loss became non-finite at step {self.step + 1} ({bad or float(total)})"
        )

    # ------------------------------------------------------------------ eval
    def restart_generator(self, state: dict[str, torch.Tensor]) -> None:
        """Continue from these generator weights (raw and averaged alike): the adversarial
        phase starts from the best content generator, not from where the warm-up drifted."""
        self.net_g.load_state_dict(state)
        if self.ema is not None:
            self.ema.load_state_dict(state, self.ema.updates)

    @property
    def eval_net(self) -> torch.nn.Module:
        """The network that is scored and exported: the EMA copy when enabled."""
        return self.ema.net if self.ema is not None else self.net_g

    def validate(self) -> dict[str, float]:
        metrics = self.valset.evaluate(self.eval_net)
        metrics["step"] = self.step
        return metrics

    def preview(self):
        return self.valset.preview(self.eval_net)

    # ------------------------------------------------------------------ state
    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """All tensors and JSON metadata needed to continue exactly where this run is."""
        tensors = prefixed("net_g", self.net_g.state_dict())
        opt_tensors, opt_g = flatten_optimizer(self.opt_g.state_dict(), "opt_g")
        tensors.update(opt_tensors)
        meta: dict[str, Any] = {"optimizers": {"g": opt_g}}
        if self.net_d is not None:
            tensors.update(prefixed("net_d", self.net_d.state_dict()))
            opt_tensors, opt_d = flatten_optimizer(self.opt_d.state_dict(), "opt_d")
            tensors.update(opt_tensors)
            meta["optimizers"]["d"] = opt_d
        if self.ema is not None:
            tensors.update(prefixed("ema", self.ema.state_dict()))
            meta["ema_updates"] = self.ema.updates
        tensors["rng/torch"] = self.gen.get_state().clone()
        meta.update(
            {
                "rng_numpy": self.rng.bit_generator.state,
                "schedulers": {"kind": self.config.schedule, "step": self.step},
                "best": self.best,
                "time_data": self.time_data,
                "time_total": self.time_total,
                "split": self.split,
                "config": self.config.to_json_dict(),
            }
        )
        return tensors, meta

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        """Restore what :meth:`state` produced (:class:`CheckpointError` naming what is
        missing or does not fit, for a state written by another version or damaged)."""
        from .checkpoint import CheckpointError

        try:
            self._load_state(tensors, meta)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            if isinstance(err, InputError):
                raise
            what = f"lacks {err}" if isinstance(err, KeyError) else f"does not fit: {err}"
            raise CheckpointError(f"the checkpoint's state {what}") from None

    def _load_state(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        saved = meta.get("config", {})
        keys = ("init", "arch", "preset", "scale", "in_channels", "arch_overrides", "adversarial")
        for key in keys:
            if key in saved and saved[key] != getattr(self.config, key):
                raise InputError(
                    f"cannot resume: the checkpoint was trained with {key}={saved[key]!r}, "
                    f"the config asks for {getattr(self.config, key)!r}"
                )
        self.net_g.load_state_dict(unprefixed("net_g", tensors))
        self.opt_g.load_state_dict(unflatten_optimizer(tensors, meta["optimizers"]["g"]))
        if self.net_d is not None:
            self.net_d.load_state_dict(unprefixed("net_d", tensors))
            self.opt_d.load_state_dict(unflatten_optimizer(tensors, meta["optimizers"]["d"]))
        if self.ema is not None:
            ema_state = unprefixed("ema", tensors)
            if ema_state:
                self.ema.load_state_dict(ema_state, meta.get("ema_updates", 0))
            else:
                self.ema.load_state_dict(self.net_g.state_dict(), 0)
        self.gen.set_state(tensors["rng/torch"])
        self.rng.bit_generator.state = meta["rng_numpy"]
        self.step = int(meta["step"])
        self.best = meta.get("best")
        self.time_data = float(meta.get("time_data", 0.0))
        self.time_total = float(meta.get("time_total", 0.0))
