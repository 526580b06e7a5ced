"""Self-supervised adaptation: a degradation-aware model fine-tuned on the user's captures alone.

No HR image is needed, only the captures and their PSF (a fit, beads, optics or the file's
metadata). Each step cuts patches from the captures, splits each into two halves with
independent noise (binomial thinning of photon counts, else recorruption with the capture's
noise model: :mod:`napari_sisr.core.evidence.split`), super-resolves one half and asks the
result, taken back through the known degradation (PSF and pixel integration), to reproduce
the *other* half. Since the two noises are independent, the loss is least when the degraded
result equals the noise-free capture (Noise2Noise): the network learns this microscope's
intensities and noise with the physics as its teacher, as ZS-DeconvNet does (Qiao et al.,
Nat. Commun. 2024), starting from the bundled model rather than from nothing. Detail finer
than the capture resolves (the degradation's null space) is not constrained by the
captures: it is kept near what the bundled model draws (an anchor on the high-frequency
part of the change), so adaptation cannot invent it either.

A band of the captures is held out: its loss is watched every ``val_every`` steps and the
weights that did best there are exported, with the evidence map of the held-out band as the
run's report.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import InputError
from .progress import Progress, StopLike, TrainProgress, as_stop, run_to_end

__all__ = ["AdaptConfig", "AdaptResult", "adapt", "iter_adapt"]

#: Smallest patch side (LR px) adaptation trains on.
MIN_PATCH = 16


class AdaptConfig(BaseModel):
    """The settings of an adaptation run (validated once for every front end).

    Attributes
    ----------
    images : list
        The captures (file paths, arrays or layers); 2D planes, or stacks of them.
    degradation : DegradationParams or path
        The PSF (and, optionally, the noise) of the captures: a fit, a bead measurement, the
        optics'. Its scale is rescaled to the model's.
    model : str
        The degradation-aware model to start from (default ``aware-<scale>x``).
    scale : int
    out : path
        The run folder: ``model.json`` + ``model.safetensors``, ``log.jsonl``, ``report.json``.
    iters, patch, batch : int
        Steps, LR patch side, patches per step.
    learning_rate : float
    anchor : float
        Weight of the anchor on the high-frequency part of the change.
    val_fraction : float
        Share of each capture held out (a band of rows).
    val_every : int
    patience : int
        Validations without improvement before stopping (0: never stop early).
    min_gain : float
        Relative decrease of the held-out loss below the starting model's that an adapted
        state must reach to be kept; where none does, the starting model is exported.
    always : bool
        Adapt even where the captures' PSF and noise lie inside the range the starting model
        was trained on (by default it is then exported as it is, steered by the PSF: on the
        real pairs adaptation gained only where the microscope lay outside that range).
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, allow_inf_nan=False)

    images: list[Any] = Field(default_factory=list, exclude=True)
    degradation: Any = None
    model: str | None = None
    scale: int = Field(4, ge=2, le=8)
    out: Path | None = None
    iters: int = Field(300, ge=1, le=100_000)
    patch: int = Field(48, ge=16, le=512)
    batch: int = Field(8, ge=1, le=256)
    learning_rate: float = Field(1e-4, gt=0, le=1e-2)
    anchor: float = Field(0.0, ge=0, le=1e4)
    val_fraction: float = Field(0.2, gt=0, lt=0.9)
    val_every: int = Field(50, ge=1)
    patience: int = Field(3, ge=0)
    min_gain: float = Field(0.01, ge=0, lt=1)
    always: bool = False
    seed: int = Field(0, ge=0, lt=2**32)
    threads: int | None = Field(None, ge=1)
    overwrite: bool = False

    @field_validator("images", mode="before")
    @classmethod
    def _image_list(cls, v: Any) -> list:
        from .training.images import image_list

        return image_list(v)


@dataclass
class AdaptResult:
    """What an adaptation run produced."""

    model: Path
    steps: int
    best_step: int
    val_loss: list[tuple[int, float]] = field(default_factory=list)
    report: dict = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class _Capture:
    name: str
    raw: np.ndarray  # (Y, X) float64, the capture's own units
    lo: float
    hi: float
    noise: tuple[float, float]  # (noise_var, poisson_a) in raw units
    counts: bool

    def norm(self, x):
        return (x - self.lo) / (self.hi - self.lo)


def _captures(images, percentiles) -> list[_Capture]:
    from .evidence.split import is_counts
    from .evidence.tiled import capture_noise
    from .training.images import _name, _read, to_planes

    out = []
    for i, item in enumerate(images):
        arr, rgb = _read(item)
        # every plane and channel (an RGB capture's too) is a grey capture of its own
        arr = to_planes(arr, channel_axis=None, rgb=rgb, name=_name(item, i))
        planes = np.asarray(arr, dtype=np.float64).reshape((-1, *arr.shape[-2:]))
        for k, plane in enumerate(planes):
            if not np.isfinite(plane).all():
                raise InputError(f"capture {_name(item, i)} holds NaN or infinite values")
            lo, hi = (float(v) for v in np.percentile(plane, percentiles))
            if not hi > lo:
                raise InputError(f"capture {_name(item, i)} is flat: nothing to adapt to")
            noise, _ = capture_noise(plane)
            name = _name(item, i) + (f"[{k}]" if len(planes) > 1 else "")
            out.append(_Capture(name, plane, lo, hi, noise, is_counts(plane)))
    if not out:
        raise InputError("no captures given: adaptation learns from the captures themselves")
    return out


def _halves(c: _Capture, patch: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Two halves of a raw patch with independent noise, normalised."""
    from .evidence.split import split_halves, thinned_halves

    if c.counts:
        a, b = thinned_halves(patch, rng)
    else:
        a, b, _ = split_halves(patch, c.noise[0], c.noise[1], rng)
    return c.norm(np.asarray(a, np.float64)), c.norm(np.asarray(b, np.float64))


class _Operator:
    """The known degradation (PSF and pixel integration) as dense axis operators in torch,
    for patches of one size."""

    def __init__(self, scale: int, sigma_yx, n_lr: int, device):
        import torch

        from .degradation.simulate import axis_operator

        n = n_lr * scale
        self.ay = torch.as_tensor(
            axis_operator(n, scale, sigma_yx[0]).toarray(), dtype=torch.float32, device=device
        )
        self.ax = torch.as_tensor(
            axis_operator(n, scale, sigma_yx[1]).toarray(), dtype=torch.float32, device=device
        )
        self.scale = scale

    def __call__(self, x):
        return self.ay @ x @ self.ax.T

    def back_up(self, y):
        """A low-resolution image spread back onto the HR grid (nearest), for the anchor."""
        return y.repeat_interleave(self.scale, -2).repeat_interleave(self.scale, -1)


def iter_adapt(
    config: AdaptConfig, stop: StopLike = None
) -> Generator[Progress, None, AdaptResult]:
    """Adapt a degradation-aware model to the captures (module docstring), yielding a
    :class:`TrainProgress` per step (``losses``; ``val`` at validations)."""
    from ..core.devices import thread_count

    with thread_count(config.threads):
        return (yield from _adapt(config, as_stop(stop)))


def _setup(c: AdaptConfig):
    import torch

    from .degradation.params import DegradationParams
    from .inference.steering import Steering, is_degradation_aware
    from .modelio import load_model

    if c.out is None or not str(c.out).strip():
        raise InputError("no run folder: set out")
    model = c.model or f"aware-{c.scale}x"
    net = load_model(model)
    if not is_degradation_aware(net):
        raise InputError(
            f"{model} takes no degradation: adaptation needs a degradation-aware model"
        )
    s = int(net.scale)
    steer = Steering.coerce(c.degradation) if c.degradation is not None else None
    if steer is None or (steer.fit is None and steer.sigma is None):
        raise InputError("adaptation needs the captures' PSF: give a fit, a bead or optics JSON")
    if steer.fit is not None:
        k = s / steer.fit.scale
        sigma_yx = (steer.fit.sigma_yx[0] * k, steer.fit.sigma_yx[1] * k)
    else:
        sigma_yx = (steer.sigma, steer.sigma)
    norm = net.meta.get("normalization") or {"low": 1.0, "high": 99.8}
    caps = _captures(c.images, (float(norm["low"]), float(norm["high"])))
    torch.manual_seed(c.seed)
    source = steer.fit.source if steer.fit is not None else "typed"
    return net, model, s, sigma_yx, caps, source, DegradationParams


def _condition(cap: _Capture, sigma_yx, halves: bool):
    """The condition of one half of a capture: its noise in the model's normalised units
    (twice the variance of the capture's own: each half holds half the signal)."""
    span = cap.hi - cap.lo
    level = max(float(np.median(cap.raw)), 0.0)
    var = (level if cap.counts else cap.noise[0] + cap.noise[1] * level) * (2 if halves else 1)
    std = min(math.sqrt(max(var, 0.0)) / span, 1.0)
    return (float(sigma_yx[0]), float(sigma_yx[1]), std, 0.0)


def _regions(cap: _Capture, fraction: float, patch: int):
    """Row bands of a capture: patches for training, the held-out band for validation."""
    h = cap.raw.shape[0]
    cut = int(round(h * (1 - fraction)))
    if cut < patch or h - cut < patch or cap.raw.shape[1] < patch:
        raise InputError(
            f"capture {cap.name} ({cap.raw.shape[0]} x {cap.raw.shape[1]}) is too small to hold "
            f"out {fraction:.0%} and still cut {patch} px patches"
        )
    return (0, cut), (cut, h)


def _patch_side(caps, fraction: float, patch: int) -> int:
    """The patch side: the one asked for, or less where a capture's held-out band is smaller
    (16 px at least)."""
    fits = [min(int(c.raw.shape[0] * fraction), c.raw.shape[1]) for c in caps]
    side = min([patch, *fits])
    if side < MIN_PATCH:
        small = min(caps, key=lambda c: min(c.raw.shape))
        raise InputError(
            f"capture {small.name} ({small.raw.shape[0]} x {small.raw.shape[1]}) is too small "
            f"to adapt to: {MIN_PATCH} px patches and a held-out band of {fraction:.0%} do not fit"
        )
    return side


def _batch(caps, bands, patch, n, rng):
    out = []
    for _ in range(n):
        i = int(rng.integers(len(caps)))
        (r0, r1) = bands[i]
        y = int(rng.integers(r0, r1 - patch + 1))
        x = int(rng.integers(0, caps[i].raw.shape[1] - patch + 1))
        out.append((i, caps[i].raw[y : y + patch, x : x + patch]))
    return out


def _losses(net, ref, op, caps, items, sigma_yx, anchor, rng, device, margin):
    """The consistency (Noise2Noise through the physics) and anchor losses of a batch."""
    import torch

    inputs, targets, conds = [], [], []
    for i, p in items:
        a, b = _halves(caps[i], p, rng)
        inputs.append(a)
        targets.append(b)
        conds.append(_condition(caps[i], sigma_yx, True))
    x = torch.as_tensor(np.stack(inputs)[:, None], dtype=torch.float32, device=device)
    t = torch.as_tensor(np.stack(targets)[:, None], dtype=torch.float32, device=device)
    cond = torch.as_tensor(conds, dtype=torch.float32, device=device)
    sr = net(x, cond)
    inner = (Ellipsis, slice(margin, -margin), slice(margin, -margin))
    cons = ((op(sr) - t)[inner] ** 2).mean()
    with torch.no_grad():
        sr0 = ref(x, cond)
    change = sr - sr0
    high = change - op.back_up(op(change))  # what the captures do not see
    s = op.scale
    hin = (Ellipsis, slice(margin * s, -margin * s), slice(margin * s, -margin * s))
    anc = (high[hin] ** 2).mean()
    return cons, anc, cons + anchor * anc


@dataclass
class _Session:
    """What every step of a run uses."""

    net: Any
    ref: Any  # the starting model, frozen
    op: _Operator
    caps: list
    sigma_yx: tuple[float, float]
    patch: int
    margin: int
    train_bands: list
    val_items: list
    device: Any

    def losses(self, items, anchor, rng):
        return _losses(
            self.net,
            self.ref,
            self.op,
            self.caps,
            items,
            self.sigma_yx,
            anchor,
            rng,
            self.device,
            self.margin,
        )

    def validate(self, seed: int) -> float:
        import torch

        rng = np.random.default_rng(seed + 2)  # the same halves at every validation
        with torch.no_grad():
            cons, _, _ = self.losses(self.val_items, 0.0, rng)
        return float(cons)


def _session(c: AdaptConfig, net, s: int, sigma_yx, caps) -> _Session:
    import copy

    import torch

    device = torch.device("cpu")
    net = net.to(device).train()
    ref = copy.deepcopy(net).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    patch = _patch_side(caps, c.val_fraction, c.patch)
    bands = [_regions(cap, c.val_fraction, patch) for cap in caps]
    val_items = _batch(
        caps, [b[1] for b in bands], patch, max(8, c.batch), np.random.default_rng(c.seed + 1)
    )
    return _Session(
        net,
        ref,
        _Operator(s, sigma_yx, patch, device),
        caps,
        sigma_yx,
        patch,
        max(2, math.ceil(3 * max(sigma_yx) / s)),
        [b[0] for b in bands],
        val_items,
        device,
    )


def _adapt(c: AdaptConfig, stop_fn) -> Generator[Progress, None, AdaptResult]:
    t_start = time.perf_counter()
    yield Progress(0, c.iters, "loading the captures and the model")
    net, model, s, sigma_yx, caps, source, _ = _setup(c)
    out = _run_dir(c)
    run = _session(c, net, s, sigma_yx, caps)
    go, why = _worth_adapting(model, caps, sigma_yx, c.always)
    iters = c.iters if go else 0
    yield Progress(0, c.iters, why)
    with open(out / "log.jsonl", "w", encoding="utf-8") as log:
        step, best_state, best_step, history, stopped = yield from _steps(
            run, c, iters, stop_fn, log
        )
    net = run.net
    # nothing beat the starting model on the held-out band: it is what is exported
    net.load_state_dict(best_state if best_state is not None else run.ref.state_dict())
    net.eval()
    if stopped:
        why += f"; stopped at step {step} of {iters}: the best state so far is kept"
    if iters and best_state is None:
        why += "; no adapted state beat the starting model on the held-out band: it is kept"
    path, report = _export(net, model, c, out, caps, sigma_yx, source, best_step, history, why)
    return AdaptResult(path, step, best_step, history, report, time.perf_counter() - t_start)


def _steps(run: _Session, c: AdaptConfig, iters: int, stop_fn, log):
    """The training steps, validated every ``val_every``: the best state (``None`` where none
    beat the starting model by ``min_gain``), its step, the held-out losses, and whether the
    run was stopped."""
    import torch

    opt = torch.optim.Adam(run.net.parameters(), lr=c.learning_rate)
    rng = np.random.default_rng(c.seed)
    # the starting model's held-out loss is the bar: weights are kept only where they beat it
    v0 = run.validate(c.seed)
    best, best_state, best_step, history, bad = v0 * (1 - c.min_gain), None, 0, [(0, v0)], 0
    log.write(json.dumps({"event": "val", "step": 0, "val": v0}) + "\n")
    step = 0
    for step in range(1, iters + 1):
        if stop_fn():
            return step - 1, best_state, best_step, history, True
        cons, anc, loss = run.losses(
            _batch(run.caps, run.train_bands, run.patch, c.batch, rng), c.anchor, rng
        )
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(run.net.parameters(), 1.0)
        opt.step()
        losses = {"l_consistency": cons.item(), "l_anchor": anc.item()}
        log.write(json.dumps({"step": step, **losses}) + "\n")
        val = None
        if step % c.val_every == 0 or step == iters:
            v = run.validate(c.seed)
            history.append((step, v))
            log.write(json.dumps({"event": "val", "step": step, "val": v}) + "\n")
            val = {"consistency": v}
            bad += 1
            if v < best:
                best, best_step, bad = v, step, 0
                best_state = {k: t.detach().clone() for k, t in run.net.state_dict().items()}
        yield TrainProgress(step, iters, "adapting", step=step, losses=losses, val=val)
        if c.patience and bad >= c.patience:
            break
    return step, best_state, best_step, history, False


def _run_dir(c: AdaptConfig) -> Path:
    from .training.loop import check_run_dir

    check_run_dir(c.out, resume=False, overwrite=c.overwrite)
    out = Path(c.out)
    out.mkdir(parents=True, exist_ok=True)
    from .io.atomic import atomic_write_text
    from .training.loop import RUN_MARKER

    atomic_write_text(out / RUN_MARKER, json.dumps({"napari_sisr": "adaptation run"}) + "\n")
    return out


def _worth_adapting(model: str, caps, sigma_yx, always: bool) -> tuple[bool, str]:
    """Whether to adapt, and why. On the real pairs adaptation gained where the captures are
    photon counts (their halves are exact) or lie outside the starting model's trained range,
    and lost where the noise had to be estimated inside that range (the bundled model was
    trained for such captures; recorrupted halves with an estimated noise teach it little)."""
    from .inference.steering import _range_warnings
    from .modelio import read_model_meta

    meta = read_model_meta(model)
    outside: list[str] = []
    for cap in caps:
        for w in _range_warnings(meta, _condition(cap, sigma_yx, False)):
            if w not in outside:
                outside.append(w)
    if outside:
        return True, "adapting: " + "; ".join(outside)
    if all(cap.counts for cap in caps):
        return True, "adapting: the captures are photon counts (their halves split exactly)"
    if always:
        return True, "adapting inside the trained range, as asked (always)"
    return False, (
        "the captures' PSF and noise lie inside the range the starting model was trained on and "
        "their noise is estimated, not counted: it is kept as it is, steered by this PSF (on "
        "the real pairs adaptation lost there; use always to adapt anyway)"
    )


def _export(net, model, c, out, caps, sigma_yx, source, best_step, history, why):
    """The adapted model (its card steers it with the PSF it was adapted to) and the report:
    the evidence of the held-out band of the first capture."""
    from .evidence.consistency import consistency
    from .io.atomic import atomic_write_text
    from .modelio import read_model_meta, save_model

    base = read_model_meta(model)
    sigma = math.sqrt(sigma_yx[0] * sigma_yx[1])
    meta = {
        "normalization": base.get("normalization"),
        "degradation": base.get("degradation"),
        "steering": {
            "sigma": sigma,
            "sigma_y": sigma_yx[0],
            "sigma_x": sigma_yx[1],
            "source": "adapted",
        },
        "card": {
            **(base.get("card") or {}),
            "summary": (
                f"{model} adapted to {len(caps)} capture(s) of the user's microscope (PSF sigma "
                f"{sigma:.2f} HR px from {source}), without an HR image"
                if best_step
                else f"{model} as bundled, steered by the PSF of the user's microscope (sigma "
                f"{sigma:.2f} HR px from {source}): {why}"
            ),
        },
        "adapted": {
            "from": model,
            "captures": [cp.name for cp in caps],
            "psf_source": source,
            "sigma_yx": list(sigma_yx),
            "best_step": best_step,
            "why": why,
            "val_consistency": history,
            "config": c.model_dump(mode="json"),
        },
    }
    path = save_model(out / "model", net, meta)
    cap = caps[0]
    cut = _regions(cap, c.val_fraction, _patch_side(caps, c.val_fraction, c.patch))[1]
    held = cap.raw[cut[0] : cut[1]]
    from .inference.predict import predict

    steer = {"sigma": sigma}
    sr = np.asarray(predict(held.astype(np.float32), str(path), degradation=steer, dtype="float32"))
    noise = None if cap.counts else cap.noise  # the capture's, measured on all of it
    cons = consistency(sr, held, int(net.scale), sigma=sigma_yx, noise=noise)
    report = {
        "held_out": f"{cap.name} rows {cut[0]}-{cut[1]}",
        "why": why,
        "adapted": best_step > 0,
        "best_step": best_step,
        "val_consistency": history,
        "evidence": cons.summary(),
    }
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, default=float) + "\n")
    return path, report


def adapt(config: AdaptConfig | None = None, *, progress=None, **options) -> AdaptResult:
    """Adapt a degradation-aware model to captures (see :func:`iter_adapt`); ``options`` are
    :class:`AdaptConfig` fields laid over ``config``."""
    base = config.model_dump() if config is not None else {}
    images = options.pop("images", config.images if config is not None else [])
    c = AdaptConfig(**{**base, **options}, images=images)
    return run_to_end(iter_adapt(c), progress)
