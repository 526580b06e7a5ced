"""SRResNet generator and the VGG-style discriminator (SRGAN; the RFGANM generator).

Generator: 9x9 head conv, residual blocks (3x3 conv, batch norm, PReLU), a long skip, sub-pixel
(pixel-shuffle) x2 upsampling stages (one x3 stage for scale 3) and a 9x9 output conv.
Discriminator: strided 3x3 convs with batch norm and LeakyReLU 0.2, then a dense head.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import ArchSpec, SRGenerator


def upsample_factors(scale: int) -> list[int]:
    """Split a scale into x2 stages (or one x3 stage)."""
    if scale == 3:
        return [3]
    if scale < 2 or scale & (scale - 1):
        raise ValueError(f"scale must be 2, 3, 4 or 8, got {scale}")
    return [2] * int(math.log2(scale))


class ResidualBlock(nn.Module):
    def __init__(self, nf: int, bn: bool):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(nf, nf, 3, padding=1)]
        if bn:
            layers.append(nn.BatchNorm2d(nf))
        layers += [nn.PReLU(nf), nn.Conv2d(nf, nf, 3, padding=1)]
        if bn:
            layers.append(nn.BatchNorm2d(nf))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.body(x)


class SRResNet(SRGenerator):
    """SRResNet (Ledig et al. 2017) as used by RFGANM: 16 blocks, 64 features by default."""

    arch = "srresnet"

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 1,
        preset: str = "custom",
        n_blocks: int = 16,
        nf: int = 64,
        bn: bool = True,
    ):
        super().__init__(scale, in_channels, preset, n_blocks=n_blocks, nf=nf, bn=bn)
        self.n_blocks = n_blocks
        self.head = nn.Sequential(nn.Conv2d(in_channels, nf, 9, padding=4), nn.PReLU(nf))
        self.body = nn.Sequential(*[ResidualBlock(nf, bn) for _ in range(n_blocks)])
        tail: list[nn.Module] = [nn.Conv2d(nf, nf, 3, padding=1)]
        if bn:
            tail.append(nn.BatchNorm2d(nf))
        self.body_tail = nn.Sequential(*tail)
        ups: list[nn.Module] = []
        for f in upsample_factors(scale):
            ups += [nn.Conv2d(nf, nf * f * f, 3, padding=1), nn.PixelShuffle(f), nn.PReLU(nf)]
        self.upsample = nn.Sequential(*ups)
        self.out = nn.Conv2d(nf, in_channels, 9, padding=4)

    @property
    def receptive_field(self) -> int:
        rf = 4 + 2 * self.n_blocks + 1  # head, blocks, body tail (LR pixels)
        res = 1
        for f in upsample_factors(self.scale):
            rf += 1 / res  # 3x3 conv before each shuffle, at the current resolution
            res *= f
        rf += 4 / res  # 9x9 output conv at HR
        return math.ceil(rf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)
        feat = feat + self.body_tail(self.body(feat))
        return self.out(self.upsample(feat))


class VGGDiscriminator(nn.Module):
    """SRGAN discriminator: 8 conv layers (stride 1/2 alternating), BN, LeakyReLU, dense head."""

    def __init__(self, in_channels: int = 1, nf: int = 64, patch: int = 96, bn: bool = True):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, nf, 3, padding=1), nn.LeakyReLU(0.2)]
        c = nf
        for i, out in enumerate([nf, 2 * nf, 2 * nf, 4 * nf, 4 * nf, 8 * nf, 8 * nf]):
            stride = 2 if i % 2 == 0 else 1
            layers.append(nn.Conv2d(c, out, 3, stride=stride, padding=1))
            if bn:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.LeakyReLU(0.2))
            c = out
        self.features = nn.Sequential(*layers)
        # Adaptive pooling to a fixed 6x6 map keeps the dense head valid for any patch size.
        self.pool = nn.AdaptiveAvgPool2d(6)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(c * 36, 1024), nn.LeakyReLU(0.2), nn.Linear(1024, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)))


SPEC = ArchSpec(
    name="srresnet",
    generator=SRResNet,
    discriminator=VGGDiscriminator,
    presets={
        "paper": {"n_blocks": 16, "nf": 64, "bn": True},
        "fast": {"n_blocks": 4, "nf": 32, "bn": False},
    },
    disc_presets={"paper": {"nf": 64}, "fast": {"nf": 32}},
    scales=(2, 3, 4, 8),
    description="SRResNet generator (RFGANM, SRGAN) with sub-pixel upsampling",
)
