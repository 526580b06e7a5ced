"""RRDBNet (ESRGAN / Real-ESRGAN) and the U-Net discriminator with spectral normalisation.

Generator: 3x3 head conv, residual-in-residual dense blocks (RRDB: three dense blocks of five
3x3 convs with growth channels, LeakyReLU 0.2, residual scaling 0.2 inside and around), a trunk
conv with a long skip, then nearest-neighbour x2 resize + 3x3 conv + LeakyReLU stages, an HR
3x3 conv + LeakyReLU and a 3x3 output conv. Conv weights in the dense blocks start at 0.1 x
Kaiming, as in ESRGAN, so the deep trunk begins close to the identity.
Discriminator (Real-ESRGAN): a U-Net of spectrally normalised convs (three stride-2 4x4 convs
down, three bilinear x2 + 3x3 conv stages up with skip connections, two more convs) ending in
one logit per pixel, shape ``(N, 1, H, W)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .base import ArchSpec, SRGenerator
from .blocks import ceil_radius, scale_init, upsample_factors

__all__ = ["SPEC", "RRDBNet", "UNetDiscriminatorSN", "RRDB", "DenseBlock"]


class DenseBlock(nn.Module):
    """Five 3x3 convs, each seeing all previous outputs; output scaled by 0.2 plus input."""

    def __init__(self, nf: int, gc: int, res_scale: float = 0.2):
        super().__init__()
        self.res_scale = res_scale
        self.convs = nn.ModuleList(
            [nn.Conv2d(nf + i * gc, gc, 3, padding=1) for i in range(4)]
            + [nn.Conv2d(nf + 4 * gc, nf, 3, padding=1)]
        )
        self.act = nn.LeakyReLU(0.2)
        scale_init(self, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in self.convs[:-1]:
            feats.append(self.act(conv(torch.cat(feats, 1))))
        return x + self.res_scale * self.convs[-1](torch.cat(feats, 1))


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks, residual scaling 0.2."""

    def __init__(self, nf: int, gc: int, res_scale: float = 0.2):
        super().__init__()
        self.res_scale = res_scale
        self.blocks = nn.Sequential(*[DenseBlock(nf, gc, res_scale) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.blocks(x)


class RRDBNet(SRGenerator):
    """ESRGAN / Real-ESRGAN generator.

    Parameters
    ----------
    scale : int
        2, 3, 4 or 8 (one nearest-resize + conv stage per x2, or one x3 stage).
    in_channels : int
        Image channels.
    n_blocks, nf, gc : int
        RRDBs, trunk features and dense-block growth channels (23, 64, 32 in the paper).
    """

    arch = "rrdb"

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 1,
        preset: str = "custom",
        n_blocks: int = 23,
        nf: int = 64,
        gc: int = 32,
    ):
        super().__init__(scale, in_channels, preset, n_blocks=n_blocks, nf=nf, gc=gc)
        self.n_blocks = n_blocks
        self.conv_first = nn.Conv2d(in_channels, nf, 3, padding=1)
        self.body = nn.Sequential(*[RRDB(nf, gc) for _ in range(n_blocks)])
        self.conv_body = nn.Conv2d(nf, nf, 3, padding=1)
        self.factors = upsample_factors(scale)
        self.conv_up = nn.ModuleList([nn.Conv2d(nf, nf, 3, padding=1) for _ in self.factors])
        self.conv_hr = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv_last = nn.Conv2d(nf, in_channels, 3, padding=1)
        self.act = nn.LeakyReLU(0.2)

    @property
    def receptive_field(self) -> int:
        rf = 1 + 15 * self.n_blocks + 1  # head, 3 x 5 convs per RRDB, trunk conv (LR px)
        res = 1
        for f in self.factors:
            res *= f
            rf += 1 / res  # conv after each nearest resize
        rf += 2 / res  # HR conv and output conv
        return ceil_radius(rf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for f, conv in zip(self.factors, self.conv_up, strict=True):
            feat = self.act(conv(F.interpolate(feat, scale_factor=f, mode="nearest")))
        return self.conv_last(self.act(self.conv_hr(feat)))


class UNetDiscriminatorSN(nn.Module):
    """Real-ESRGAN's U-Net discriminator with spectral normalisation: per-pixel logits.

    Any input size works (upsampled maps are resized to their skip's size); multiples of 8 are
    exact. Output shape ``(N, 1, H, W)``.
    """

    def __init__(self, in_channels: int = 1, nf: int = 64, skip_connection: bool = True):
        super().__init__()
        self.skip_connection = skip_connection
        sn = spectral_norm
        self.conv0 = nn.Conv2d(in_channels, nf, 3, padding=1)
        self.conv1 = sn(nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv2d(nf * 4, nf * 8, 4, 2, 1, bias=False))
        self.conv4 = sn(nn.Conv2d(nf * 8, nf * 4, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv2d(nf * 4, nf * 2, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv2d(nf * 2, nf, 3, 1, 1, bias=False))
        self.conv7 = sn(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(nf, 1, 3, 1, 1)

    @staticmethod
    def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = F.leaky_relu
        x0 = act(self.conv0(x), 0.2)
        x1 = act(self.conv1(x0), 0.2)
        x2 = act(self.conv2(x1), 0.2)
        x3 = act(self.conv3(x2), 0.2)
        x4 = act(self.conv4(self._up(x3, x2)), 0.2)
        if self.skip_connection:
            x4 = x4 + x2
        x5 = act(self.conv5(self._up(x4, x1)), 0.2)
        if self.skip_connection:
            x5 = x5 + x1
        x6 = act(self.conv6(self._up(x5, x0)), 0.2)
        if self.skip_connection:
            x6 = x6 + x0
        out = act(self.conv7(x6), 0.2)
        out = act(self.conv8(out), 0.2)
        return self.conv9(out)


# L1 + perceptual (Real-ESRGAN's conv1_2..conv5_4 mix, pre-activation, L1) + 0.1 x GAN.
# ESRGAN's relativistic average GAN; Real-ESRGAN's own setting is the plain ("ns") GAN with
# this U-Net discriminator: set "gan": "ns" to reproduce it.
_LOSS = {
    "pixel_l1": 1.0,
    "vgg": 1.0,
    "adv": 0.1,
    "gan": "relativistic",
    "vgg_layers": {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0},
    "vgg_criterion": "l1",
}

SPEC = ArchSpec(
    name="rrdb",
    generator=RRDBNet,
    discriminator=UNetDiscriminatorSN,
    presets={
        "paper": {"n_blocks": 23, "nf": 64, "gc": 32},
        "balanced": {"n_blocks": 4, "nf": 32, "gc": 16},
        "fast": {"n_blocks": 2, "nf": 16, "gc": 12},
    },
    disc_presets={"paper": {"nf": 64}, "balanced": {"nf": 32}, "fast": {"nf": 16}},
    scales=(2, 3, 4, 8),
    loss_defaults={p: dict(_LOSS) for p in ("paper", "balanced", "fast")},
    description="ESRGAN / Real-ESRGAN RRDBNet with a spectrally normalised U-Net discriminator",
)
