"""Train the axial network on the stack's own lateral planes.

Patches of the xy planes (either lateral axis taking the part of z, flipped at random) are
degraded as :func:`~.fit.degrade_rows` says an axial slice is (blurred along the rows by the
fitted extra blur, sampled every ``factor`` rows at row ``factor // 2``), with white noise added
back where the blur removed the plane's own; the network learns to restore the full patch.
A tenth of the planes is held out; the weights that restore it best are kept.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..errors import InputError
from ..progress import Progress, StopLike, TrainProgress, as_stop

__all__ = ["IsoTrainConfig", "IsoTrained", "iter_train_isotropic", "train_isotropic"]


class IsoTrainConfig(BaseModel):
    """Settings of the axial network's training."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    iters: int = Field(1500, ge=1, le=10**6)
    patch: int = Field(64, ge=16, le=1024, description="patch side in xy pixels")
    batch: int = Field(8, ge=1, le=256)
    learning_rate: float = Field(3e-4, gt=0, le=1e-2)
    nf: int = Field(32, ge=4, le=256)
    n_blocks: int = Field(4, ge=1, le=32)
    val_every: int = Field(100, ge=1)
    seed: int = Field(0, ge=0, lt=2**32)
    device: str = Field("auto", description="auto (a GPU where there is one), cpu, cuda, mps")


@dataclass
class IsoTrained:
    net: object
    lo: float
    hi: float
    val: list[tuple[int, float, float]] = field(default_factory=list)  # step, PSNR, linear
    seconds: float = 0.0


#: Most values the intensity range is read from (a regular sample of larger stacks).
RANGE_SAMPLE = 1 << 20


def intensity_range(stack) -> tuple[float, float]:
    """The 1st and 99.8th percentiles of the stack (of a regular sample of its planes and
    rows when it holds more than ``RANGE_SAMPLE`` values): what the network's 0 and 1 are."""
    z, y, x = stack.shape
    step_z = max(1, int(math.ceil(z * y * x / RANGE_SAMPLE)))
    step_y = max(1, int(math.ceil(z * y * x / step_z / RANGE_SAMPLE)))
    sample = np.array(stack[::step_z, ::step_y], np.float64, copy=True)  # sorted in place below
    lo, hi = (float(v) for v in np.percentile(sample, (1.0, 99.8), overwrite_input=True))
    if not hi > lo:
        raise InputError("the stack is flat: nothing to learn from")
    return lo, hi


def _pairs(planes, idx, patch, f, sigma, noise_std, n, rng, span):
    """``n`` (input, target) patches from the planes ``idx``, normalised to ``span`` (lo, hi)."""
    from .fit import degrade_rows

    lo, hi = span
    xs, ys = [], []
    for _ in range(n):
        p = planes[int(rng.choice(idx))]
        if rng.random() < 0.5:
            p = p.T
        h, w = p.shape
        y0, x0 = int(rng.integers(0, h - patch + 1)), int(rng.integers(0, w - patch + 1))
        t = (np.asarray(p[y0 : y0 + patch, x0 : x0 + patch], np.float64) - lo) / (hi - lo)
        t = t.astype(np.float32)
        if rng.random() < 0.5:
            t = t[::-1]
        if rng.random() < 0.5:
            t = t[:, ::-1]
        low = degrade_rows(t, sigma, f, f // 2)
        if noise_std > 0:
            low = low + noise_std * rng.standard_normal(low.shape)
        xs.append(low.astype(np.float32))
        ys.append(np.ascontiguousarray(t, dtype=np.float32))
    return np.stack(xs)[:, None], np.stack(ys)[:, None]


def _lost_noise(noise_var: float, sigma: float) -> float:
    """Std of the white noise the blur took from a plane (an axial sample keeps all of it)."""
    if noise_var <= 0:
        return 0.0
    kept = 1.0 if sigma < 0.3 else min(1.0, 1.0 / (2.0 * sigma * math.sqrt(math.pi)))
    return math.sqrt(noise_var * (1.0 - kept))


def _noise_std(a, lo: float, hi: float, sigma: float) -> float:
    """Std of the noise to add to a degraded plane (normalised units): what the blur took
    from the middle plane's noise, which an axial sample keeps."""
    from ..degradation.noiselevel import estimate_noise

    try:
        mid = (np.asarray(a[a.shape[0] // 2], np.float64) - lo) / (hi - lo)
        noise_var = estimate_noise(mid)[0]
    except InputError:
        noise_var = 0.0
    return _lost_noise(noise_var, sigma)


def iter_train_isotropic(
    stack, fit, config: IsoTrainConfig | None = None, stop: StopLike = None
) -> Generator[Progress, None, IsoTrained]:
    """Train on the xy planes of ``stack`` for the axial degradation ``fit``
    (:class:`~.fit.AxialFit`); yields a :class:`TrainProgress` per step."""
    import torch

    from ..devices import torch_device
    from .net import AxialSR

    c = config or IsoTrainConfig()
    stop_fn = as_stop(stop)
    t0 = time.perf_counter()
    a = stack if isinstance(stack, np.ndarray) else np.asarray(stack)  # planes read as needed
    lo, hi = intensity_range(a)
    f, sigma = int(fit.factor), float(fit.sigma)
    patch = min(c.patch, *a.shape[1:]) // f * f
    if patch < 2 * f or patch < 16:
        raise InputError(f"the stack's planes ({a.shape[1]} x {a.shape[2]}) are too small")
    noise_std = _noise_std(a, lo, hi, sigma)
    rng = np.random.default_rng(c.seed)
    val_idx, train_idx = _split_planes(a.shape[0], rng)
    val_rng = np.random.default_rng(c.seed + 1)
    vx, vy = _pairs(a, val_idx, patch, f, sigma, noise_std, 32, val_rng, (lo, hi))
    dev = torch_device(c.device)
    torch.manual_seed(c.seed)
    net = AxialSR(f, c.nf, c.n_blocks).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=c.learning_rate)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, c.iters)
    vx_t, vy_t = torch.from_numpy(vx).to(dev), torch.from_numpy(vy).to(dev)
    best, best_state, history = -math.inf, None, []
    for step in range(1, c.iters + 1):
        if stop_fn():
            break
        x, y = _pairs(a, train_idx, patch, f, sigma, noise_std, c.batch, rng, (lo, hi))
        x, y = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
        loss = torch.nn.functional.l1_loss(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        val = None
        if step % c.val_every == 0 or step == c.iters:
            val = _validate(net, vx_t, vy_t, f)
            history.append((step, val["psnr"], val["linear"]))
            if val["psnr"] > best:
                best = val["psnr"]
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        losses = {"l1": loss.item()}
        message = "training the axial network"
        yield TrainProgress(step, c.iters, message, step=step, losses=losses, val=val)
    if best_state is not None:
        net.load_state_dict(best_state)
    return IsoTrained(net.eval(), lo, hi, history, time.perf_counter() - t0)


def _split_planes(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """A tenth of the planes (at least one) held out for validation, the rest for training
    (all of them where the stack has one plane)."""
    order = rng.permutation(n)
    n_val = max(1, n // 10)
    return order[:n_val], order[n_val:] if n > 1 else order


def _validate(net, vx, vy, f: int) -> dict[str, float]:
    """PSNR of the network and of linear interpolation on the validation pairs."""
    import torch

    with torch.no_grad():
        out = net(vx)
        lin = _linear(vx, f)
    return {"psnr": _psnr(out, vy), "linear": _psnr(lin, vy)}


def _linear(x, f):
    from .net import interpolate_rows

    return interpolate_rows(x, f)


def _psnr(a, b) -> float:
    mse = float(((a - b) ** 2).mean())
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def train_isotropic(stack, fit, config: IsoTrainConfig | None = None, progress=None):
    """:func:`iter_train_isotropic` run to the end."""
    from ..progress import run_to_end

    return run_to_end(iter_train_isotropic(stack, fit, config), progress)
