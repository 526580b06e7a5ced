"""Modified SRGAN: SRResNet without batch norm, nearest-neighbour upsampling, GAP discriminator.

Generator: the SRResNet trunk (9x9 head + PReLU, residual blocks, trunk conv, long skip) with
no batch norm, and each upsampling stage a nearest-neighbour resize followed by a 3x3 conv and
PReLU instead of a sub-pixel convolution (no checkerboard artefacts), then a 9x9 output conv.
Discriminator: the SRGAN conv stack without batch norm, ending in global average pooling and a
single linear unit instead of flatten + dense layers, so it accepts any patch size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import ArchSpec
from .blocks import upsample_factors
from .srresnet import ResidualBlock, ResidualTrunkGenerator, sr_head, sr_output

__all__ = ["SPEC", "SRGANNN", "GAPDiscriminator"]


class _NearestUp(nn.Module):
    def __init__(self, factor: int):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.factor, mode="nearest")


class SRGANNN(ResidualTrunkGenerator):
    """SRResNet-style generator without batch norm and with nearest-neighbour upsampling.

    Parameters
    ----------
    scale : int
        2, 3, 4 or 8.
    in_channels : int
        Image channels.
    n_blocks, nf : int
        Residual blocks and features (16 and 64 in the paper).
    out_kernel : int
        Size of the HR output conv (9 in the paper, 3 in the fast preset: cheaper on CPUs).
    """

    arch = "srgan_nn"
    conv_after_resize = True

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 1,
        preset: str = "custom",
        n_blocks: int = 16,
        nf: int = 64,
        out_kernel: int = 9,
    ):
        super().__init__(
            scale, in_channels, preset, n_blocks=n_blocks, nf=nf, out_kernel=out_kernel
        )
        self.n_blocks = n_blocks
        self.head = sr_head(in_channels, nf)
        self.body = nn.Sequential(*[ResidualBlock(nf, bn=False) for _ in range(n_blocks)])
        self.body_tail = nn.Conv2d(nf, nf, 3, padding=1)
        ups: list[nn.Module] = []
        for f in upsample_factors(scale):
            ups += [_NearestUp(f), nn.Conv2d(nf, nf, 3, padding=1), nn.PReLU(nf)]
        self.upsample = nn.Sequential(*ups)
        self.out_kernel = out_kernel
        self.out = sr_output(nf, in_channels, out_kernel)


class GAPDiscriminator(nn.Module):
    """SRGAN conv stack without batch norm, global average pooling and one linear unit.

    Returns one logit per image, shape ``(N, 1)``, for any patch size.
    """

    def __init__(self, in_channels: int = 1, nf: int = 64):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, nf, 3, padding=1), nn.LeakyReLU(0.2)]
        c = nf
        for i, out in enumerate([nf, 2 * nf, 2 * nf, 4 * nf, 4 * nf, 8 * nf, 8 * nf]):
            stride = 2 if i % 2 == 0 else 1
            layers += [nn.Conv2d(c, out, 3, stride=stride, padding=1), nn.LeakyReLU(0.2)]
            c = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


_LOSS = {"pixel_l1": 1.0, "adv": 1e-3, "gan": "ns", "label_smoothing": True}

SPEC = ArchSpec(
    name="srgan_nn",
    generator=SRGANNN,
    discriminator=GAPDiscriminator,
    presets={
        "paper": {"n_blocks": 16, "nf": 64},
        "balanced": {"n_blocks": 8, "nf": 48},
        "fast": {"n_blocks": 4, "nf": 24, "out_kernel": 3},
    },
    disc_presets={"paper": {"nf": 64}, "balanced": {"nf": 32}, "fast": {"nf": 16}},
    scales=(2, 3, 4, 8),
    loss_defaults={p: dict(_LOSS) for p in ("paper", "balanced", "fast")},
    description="Modified SRGAN: no batch norm, nearest-neighbour upsampling, GAP discriminator",
)
