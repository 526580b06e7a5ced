"""Cascaded refinement GAN for phase-contrast super-resolution (Han & Yin, 2018 style).

Generator: the LR image is enriched with a fixed bank of diffraction-pattern filters (DPFs,
see :mod:`.dpf`), a stem of 3x3 convs extracts LR features, then one refinement module per x2
(3 for 8x, 2 for 4x, 1 for 2x). Each module bilinearly doubles the features, concatenates the
DPF-enriched input resized to its resolution (as cascaded refinement networks feed the input
to every level), and applies ``convs_per_module`` x (3x3 conv, layer norm, LeakyReLU 0.2).
A 1x1 projection turns every level's features into an image; it is added to the bilinearly
upsampled input (a residual: the modules learn the detail that interpolation misses).
:meth:`CascadedSR.forward_levels` returns the image of every level for the multi-level DPF
content loss; ``forward`` returns the last.

The layer norm is :class:`.blocks.LayerNorm2d`, a per-pixel norm over channels, not
``GroupNorm(1, C)``: a norm over the whole spatial extent would make every output pixel depend
on the whole image, so tiled inference would differ from untiled and no halo would suffice.

Presets: "paper" uses 64 features in the stem and every module, two convs per module and 12
DPFs; widths the original does not fix are our choice. "fast" narrows the finer levels, where
the pixels are.

Discriminator: 4 downsampling modules (3x3 conv, layer norm, LeakyReLU 0.2, 2x2 max pool)
and a head (3x3 conv, LeakyReLU, global average pool, linear): one logit per image.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .base import ArchSpec, SRGenerator
from .blocks import LayerNorm2d, ceil_radius
from .dpf import DPFBank

__all__ = ["SPEC", "CascadedSR", "CascadedDiscriminator"]

_LEVELS = {2: 1, 4: 2, 8: 3}


def _conv_block(cin: int, cout: int, n: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(n):
        layers += [
            nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1),
            LayerNorm2d(cout),
            nn.LeakyReLU(0.2),
        ]
    return nn.Sequential(*layers)


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class CascadedSR(SRGenerator):
    """Cascaded refinement generator with DPF-enriched input.

    Parameters
    ----------
    scale : int
        2, 4 or 8 (1, 2 or 3 refinement modules).
    in_channels : int
        Image channels.
    features : sequence of int
        Features of the LR stem and of each refinement module, coarse to fine; at least
        ``1 + log2(scale)`` entries (extra entries are unused).
    convs_per_module : int
        3x3 conv + norm + LeakyReLU layers in the stem and in each module.
    n_dpf, dpf_size : int
        Number and (odd) size of the DPF kernels.
    dpf_radii : sequence of float
        Ring scales of the DPFs in LR pixels.
    """

    arch = "cascaded"

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 1,
        preset: str = "custom",
        features: Sequence[int] = (64, 64, 64, 64),
        convs_per_module: int = 2,
        n_dpf: int = 12,
        dpf_size: int = 15,
        dpf_radii: Sequence[float] = (2.0, 3.5, 6.0),
    ):
        if scale not in _LEVELS:
            raise InputError(f"cascaded supports scales 2, 4 and 8, got {scale}")
        n_levels = _LEVELS[scale]
        features = [int(f) for f in features]
        if len(features) < n_levels + 1:
            raise InputError(f"scale {scale} needs {n_levels + 1} feature sizes, got {features}")
        super().__init__(
            scale,
            in_channels,
            preset,
            features=features,
            convs_per_module=convs_per_module,
            n_dpf=n_dpf,
            dpf_size=dpf_size,
            dpf_radii=[float(r) for r in dpf_radii],
        )
        self.n_levels = n_levels
        self.convs_per_module = convs_per_module
        self.dpf = DPFBank(n_dpf, dpf_size, dpf_radii)
        n_in = in_channels * (n_dpf + 1)
        self.stem = _conv_block(n_in, features[0], convs_per_module)
        self.refine = nn.ModuleList(
            _conv_block(features[k - 1] + n_in, features[k], convs_per_module)
            for k in range(1, n_levels + 1)
        )
        self.to_image = nn.ModuleList(
            nn.Conv2d(features[k], in_channels, 1) for k in range(1, n_levels + 1)
        )

    @property
    def receptive_field(self) -> int:
        rf = self.dpf.radius + self.convs_per_module  # DPF bank and LR stem (LR px)
        for k in range(1, self.n_levels + 1):
            rf += 1 / 2 ** (k - 1)  # bilinear x2 of the features
            rf += self.convs_per_module / 2**k  # convs at level k
        return ceil_radius(rf)

    def forward_levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Images at 2x, 4x, ... up to ``scale`` x the input size."""
        enriched = torch.cat([x, self.dpf(x)], 1)
        feat = self.stem(enriched)
        h, w = x.shape[-2:]
        outs = []
        for k, (module, proj) in enumerate(zip(self.refine, self.to_image, strict=True), 1):
            size = (h * 2**k, w * 2**k)
            feat = module(torch.cat([_resize(feat, size), _resize(enriched, size)], 1))
            outs.append(proj(feat) + _resize(x, size))
        return outs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_levels(x)[-1]


class CascadedDiscriminator(nn.Module):
    """Four (3x3 conv, layer norm, LeakyReLU, 2x2 max pool) modules and a pooled head.

    Returns one logit per image, shape ``(N, 1)``; patches of at least 16 px.
    """

    def __init__(self, in_channels: int = 1, nf: int = 64):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for i in range(4):
            out = nf * 2**i
            layers += [
                nn.Conv2d(c, out, 3, padding=1),
                LayerNorm2d(out),
                nn.LeakyReLU(0.2),
                nn.MaxPool2d(2),
            ]
            c = out
        self.features = nn.Sequential(*layers)
        self.head_conv = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.LeakyReLU(0.2))
        self.head = nn.Linear(c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_conv(self.features(x)).mean(dim=(2, 3)))


_LOSS = {"pixel_l1": 1.0, "dpf_content": 1.0, "adv": 1e-3, "gan": "ns"}

SPEC = ArchSpec(
    name="cascaded",
    generator=CascadedSR,
    discriminator=CascadedDiscriminator,
    presets={
        "paper": {"features": [64, 64, 64, 64], "convs_per_module": 2, "n_dpf": 12},
        "balanced": {"features": [48, 32, 24, 16], "convs_per_module": 2, "n_dpf": 12},
        "fast": {"features": [32, 16, 12, 8], "convs_per_module": 2, "n_dpf": 12},
    },
    disc_presets={"paper": {"nf": 64}, "balanced": {"nf": 32}, "fast": {"nf": 16}},
    scales=(2, 4, 8),
    loss_defaults={p: dict(_LOSS) for p in ("paper", "balanced", "fast")},
    description="Cascaded refinement GAN with diffraction-pattern-filter input (phase contrast)",
)
