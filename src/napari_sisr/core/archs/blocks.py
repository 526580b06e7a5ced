"""Small building blocks shared by the architecture families."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError


def upsample_factors(scale: int) -> list[int]:
    """Split a scale into x2 stages (or a single x3 stage).

    Parameters
    ----------
    scale : int
        2, 3, 4 or 8.

    Returns
    -------
    list of int
        The factor of each upsampling stage, e.g. ``[2, 2]`` for 4.
    """
    if scale == 3:
        return [3]
    if scale < 2 or scale & (scale - 1) or scale > 8:
        raise InputError(f"scale must be 2, 3, 4 or 8, got {scale}")
    return [2] * int(math.log2(scale))


def ceil_radius(radius: float) -> int:
    """Round a receptive-field radius (in LR px) up, ignoring float noise."""
    return math.ceil(radius - 1e-9)


class LayerNorm2d(nn.Module):
    """Layer norm over the channels of each pixel, with a per-channel affine.

    Unlike ``GroupNorm(1, C)``, which normalises over C, H and W, every pixel is normalised
    on its own, so the network stays local: tiled inference equals untiled inference and the
    receptive field stays finite.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.channels = int(channels)  # a constant, not x.shape[1]: graphs export without it
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Channels-last view: one fused layer-norm kernel over C. The result is NCHW in
        # channels-last memory, which the following convolution takes as is.
        y = F.layer_norm(x.permute(0, 2, 3, 1), (self.channels,), self.weight, self.bias, self.eps)
        return y.permute(0, 3, 1, 2)


def scale_init(module: nn.Module, factor: float) -> None:
    """Kaiming-normal init of every conv in ``module``, scaled by ``factor``, zero biases.

    Small initial residual branches (``factor`` ~ 0.1) keep deep residual networks without
    batch norm stable at the start of training.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, a=0.0, mode="fan_in")
            m.weight.data.mul_(factor)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
