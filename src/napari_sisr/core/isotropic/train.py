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


@dataclass
class IsoTrained:
    net: object
    lo: float
    hi: float
    val: list[tuple[int, float, float]] = field(default_factory=list)  # step, PSNR, linear
    seconds: float = 0.0


def _normalised(stack: np.ndarray) -> tuple[np.ndarray, float, float]:
    lo, hi = (float(v) for v in np.percentile(stack, (1.0, 99.8)))
    if not hi > lo:
        raise InputError("the stack is flat: nothing to learn from")
    return ((stack - lo) / (hi - lo)).astype(np.float32), lo, hi


def _pairs(planes, idx, patch, f, sigma, noise_std, n, rng):
    """``n`` (input, target) patches from the planes ``idx``."""
    from .fit import degrade_rows

    xs, ys = [], []
    for _ in range(n):
        p = planes[int(rng.choice(idx))]
        if rng.random() < 0.5:
            p = p.T
        h, w = p.shape
        y0, x0 = int(rng.integers(0, h - patch + 1)), int(rng.integers(0, w - patch + 1))
        t = p[y0 : y0 + patch, x0 : x0 + patch]
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


def iter_train_isotropic(
    stack, fit, config: IsoTrainConfig | None = None, stop: StopLike = None
) -> Generator[Progress, None, IsoTrained]:
    """Train on the xy planes of ``stack`` for the axial degradation ``fit``
    (:class:`~.fit.AxialFit`); yields a :class:`TrainProgress` per step."""
    import torch

    from ..degradation.unpaired import estimate_noise
    from .net import AxialSR

    c = config or IsoTrainConfig()
    stop_fn = as_stop(stop)
    t0 = time.perf_counter()
    a = np.asarray(stack, dtype=np.float64)
    norm, lo, hi = _normalised(a)
    f, sigma = int(fit.factor), float(fit.sigma)
    patch = min(c.patch, *a.shape[1:]) // f * f
    if patch < 2 * f or patch < 16:
        raise InputError(f"the stack's planes ({a.shape[1]} x {a.shape[2]}) are too small")
    try:
        noise_var = estimate_noise(norm[norm.shape[0] // 2].astype(np.float64))[0]
    except InputError:
        noise_var = 0.0
    noise_std = _lost_noise(noise_var, sigma)
    rng = np.random.default_rng(c.seed)
    order = rng.permutation(a.shape[0])
    n_val = max(1, a.shape[0] // 10)
    val_idx, train_idx = order[:n_val], order[n_val:] if a.shape[0] > 1 else order
    val_rng = np.random.default_rng(c.seed + 1)
    vx, vy = _pairs(norm, val_idx, patch, f, sigma, noise_std, 32, val_rng)
    torch.manual_seed(c.seed)
    net = AxialSR(f, c.nf, c.n_blocks)
    opt = torch.optim.Adam(net.parameters(), lr=c.learning_rate)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, c.iters)
    vx_t, vy_t = torch.from_numpy(vx), torch.from_numpy(vy)
    best, best_state, history = -math.inf, None, []
    for step in range(1, c.iters + 1):
        if stop_fn():
            break
        x, y = _pairs(norm, train_idx, patch, f, sigma, noise_std, c.batch, rng)
        loss = torch.nn.functional.l1_loss(net(torch.from_numpy(x)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        val = None
        if step % c.val_every == 0 or step == c.iters:
            with torch.no_grad():
                out = net(vx_t)
                lin = _linear(vx_t, f)
            p, p_lin = _psnr(out, vy_t), _psnr(lin, vy_t)
            history.append((step, p, p_lin))
            val = {"psnr": p, "linear": p_lin}
            if p > best:
                best = p
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        yield TrainProgress(step, c.iters, "training the axial network", step=step,
                            losses={"l1": loss.item()}, val=val)  # fmt: skip
    if best_state is not None:
        net.load_state_dict(best_state)
    return IsoTrained(net.eval(), lo, hi, history, time.perf_counter() - t0)


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
