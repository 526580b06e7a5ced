"""Exponential moving average of the generator's weights.

The averaged copy is what validation scores and what is exported: it is smoother than the
raw weights, especially under adversarial training. Early on the decay is ramped up as
``min(decay, (1 + n) / (warmup + n))`` after ``n`` updates. With ``warmup`` 10 a short run is
not dominated by the random initial weights; with 2 every step since the start counts alike
(a uniform average, the start included) until the decay reaches ``decay``, which suits a run
that starts from a trained model (see :func:`.schedule.default_ema_warmup`).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .schedule import EMA_WARMUP_FROM_RANDOM


class EMA:
    """Moving average of a network's parameters (buffers are copied as they are).

    Parameters
    ----------
    net : torch.nn.Module
        The network being trained; a frozen deep copy is kept in :attr:`net`.
    decay : float
        Decay per update (e.g. 0.999).
    warmup : float
        Ramp of the decay early on (above 1): ``min(decay, (1 + n) / (warmup + n))``.
    """

    def __init__(self, net: nn.Module, decay: float, warmup: float = EMA_WARMUP_FROM_RANDOM):
        if not warmup > 1:
            raise ValueError(f"the average's warm-up must be above 1, got {warmup}")
        self.decay = float(decay)
        self.warmup = float(warmup)
        self.updates = 0
        self.net = copy.deepcopy(net)
        self.net.requires_grad_(False)

    def current_decay(self) -> float:
        n = self.updates
        return min(self.decay, (1.0 + n) / (self.warmup + n))

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        """Blend the current weights of ``net`` into the average."""
        d = self.current_decay()
        src = dict(net.named_parameters())
        for name, p in self.net.named_parameters():
            p.lerp_(src[name].detach(), 1.0 - d)
        src_b = dict(net.named_buffers())
        for name, b in self.net.named_buffers():
            b.copy_(src_b[name])
        self.updates += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.net.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor], updates: int) -> None:
        self.net.load_state_dict(state)
        self.updates = int(updates)
