"""A small network that upsamples one axis (rows) by an integer factor: features, residual
blocks without batch norm, nearest-neighbour upsampling along the rows followed by a
convolution (the modified SRGAN's upsampling, along one axis), plus the input linearly
interpolated along the rows (the network learns the residual). Saved as safetensors + JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

FORMAT = "napari-sisr-axial-1"


class _Block(nn.Module):
    def __init__(self, nf: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(nf, nf, 3, padding=1)
        self.b = nn.Conv2d(nf, nf, 3, padding=1)

    def forward(self, x):
        return x + self.b(F.leaky_relu(self.a(x), 0.1))


class AxialSR(nn.Module):
    """``(B, 1, H, W)`` -> ``(B, 1, H * factor, W)``."""

    def __init__(self, factor: int, nf: int = 32, n_blocks: int = 4) -> None:
        super().__init__()
        self.factor, self.nf, self.n_blocks = int(factor), int(nf), int(n_blocks)
        self.head = nn.Conv2d(1, nf, 3, padding=1)
        self.body = nn.Sequential(*[_Block(nf) for _ in range(n_blocks)])
        self.up = nn.Conv2d(nf, nf, (5, 3), padding=(2, 1))
        self.tail = nn.Conv2d(nf, 1, 3, padding=1)

    @property
    def halo(self) -> int:
        """Input pixels each output pixel depends on, per side (coarse axis; generous)."""
        return 2 + 2 * self.n_blocks + math.ceil(3 / self.factor) + 2

    def forward(self, x):
        base = interpolate_rows(x, self.factor)
        f = self.body(F.leaky_relu(self.head(x), 0.1))
        f = f.repeat_interleave(self.factor, dim=2)
        f = F.leaky_relu(self.up(f), 0.1)
        return base + self.tail(f)


def interpolate_rows(x, factor: int):
    """Linear interpolation along the rows to ``factor`` times as many: coarse row ``i`` sits
    at fine row ``i * factor + factor // 2`` (where the training samples it), the ends held."""
    h = x.shape[-2]
    j = torch.arange(h * factor, dtype=x.dtype, device=x.device)
    u = ((j - factor // 2) / factor).clamp(0, h - 1)
    i0 = u.floor().long().clamp(max=h - 1)
    i1 = (i0 + 1).clamp(max=h - 1)
    w = (u - i0.to(x.dtype))[:, None]
    return x[..., i0, :] * (1 - w) + x[..., i1, :] * w


def save_axial(path, net: AxialSR, meta: dict) -> Path:
    """``path.json`` + ``path.safetensors``; written through temporaries, never half."""
    from safetensors.torch import save_file

    from ..io.atomic import atomic_write_text
    from ..io.guard import staged

    path = Path(path)
    weights, info = path.with_suffix(".safetensors"), path.with_suffix(".json")
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    with staged(weights) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT})
    body = {"format": FORMAT, "factor": net.factor, "nf": net.nf, "n_blocks": net.n_blocks, **meta}
    atomic_write_text(info, json.dumps(body, indent=2, default=float) + "\n")
    return info


def load_axial(path) -> tuple[AxialSR, dict]:
    """The network and its JSON (no pickle: safetensors weights, JSON settings)."""
    from safetensors.torch import load_file

    from ..errors import InputError
    from ..io.guard import load_json

    info = Path(path).with_suffix(".json")
    meta = load_json(info, "isotropic model")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"{info} is not a napari-sisr isotropic model")
    try:
        net = AxialSR(int(meta["factor"]), int(meta["nf"]), int(meta["n_blocks"]))
        net.load_state_dict(load_file(str(info.with_suffix(".safetensors"))))
    except (KeyError, ValueError, RuntimeError, OSError) as err:
        raise InputError(f"{info}: the isotropic model cannot be loaded ({err})") from None
    return net.eval(), meta
