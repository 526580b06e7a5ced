"""FLOPs per output pixel, counted from a forward pass with hooks on conv and linear layers."""

from __future__ import annotations

import torch
from torch import nn


def count_flops(net: nn.Module, lr_size: int = 8) -> float:
    """2 x multiply-accumulates of conv / linear layers per output (HR) pixel.

    Counts a forward pass of an ``lr_size`` square input (conv costs scale exactly with the
    output size, so a small input gives the same figure); normalisation and activations are
    ignored (they are a few percent at most). Modules with a ``flops(inp, out)`` method
    report their own cost.
    """
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, nn.Conv2d | nn.ConvTranspose2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
            total += 2 * k * out.numel()
        elif isinstance(mod, nn.Linear):
            total += 2 * mod.in_features * out.numel()
        elif hasattr(mod, "flops"):  # fixed filters applied functionally (e.g. the DPF bank)
            total += mod.flops(inp, out)

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            param = next(net.parameters())
            x = torch.zeros(1, net.in_channels, lr_size, lr_size, device=param.device)
            out = net(x)
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    out = out[-1] if isinstance(out, list | tuple) else out
    return total / (out.shape[-1] * out.shape[-2])
