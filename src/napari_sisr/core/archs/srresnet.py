"""SRResNet generator and the VGG-style discriminator (SRGAN; the RFGANM generator).

Generator (Ledig et al. 2017): 9x9 head conv + PReLU, residual blocks (3x3 conv, batch norm,
PReLU, 3x3 conv, batch norm), a 3x3 conv + batch norm closing the trunk, a long skip over the
trunk, sub-pixel (pixel-shuffle) x2 upsampling stages (one x3 stage for scale 3), and a 9x9
output conv.
Discriminator: 8 3x3 convs (stride 1 / 2 alternating, 64 -> 512 features) with batch norm and
LeakyReLU 0.2, then a dense head (1024 units, LeakyReLU, 1 logit per image).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .base import ArchSpec, SRGenerator
from .blocks import ceil_radius, upsample_factors

#: Image-level residual choices of :class:`SRResNet` (``"none"`` is the paper's network).
SKIPS = ("none", "bicubic", "bilinear")

__all__ = [
    "SPEC",
    "ResidualBlock",
    "ResidualTrunkGenerator",
    "SRResNet",
    "VGGDiscriminator",
    "upsample_factors",
]


class ResidualBlock(nn.Module):
    """conv-(BN)-PReLU-conv-(BN) with an identity skip."""

    def __init__(self, nf: int, bn: bool):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(nf, nf, 3, padding=1)]
        if bn:
            layers.append(nn.BatchNorm2d(nf))
        layers += [nn.PReLU(nf), nn.Conv2d(nf, nf, 3, padding=1)]
        if bn:
            layers.append(nn.BatchNorm2d(nf))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def sr_head(in_channels: int, nf: int) -> nn.Sequential:
    """The 9x9 head conv + PReLU of the SRResNet trunk."""
    return nn.Sequential(nn.Conv2d(in_channels, nf, 9, padding=4), nn.PReLU(nf))


def sr_output(nf: int, channels: int, out_kernel: int) -> nn.Conv2d:
    """The HR output conv of the SRResNet trunk (odd ``out_kernel``)."""
    if out_kernel < 1 or out_kernel % 2 == 0:
        raise InputError(f"out_kernel must be odd and >= 1, got {out_kernel}")
    return nn.Conv2d(nf, channels, out_kernel, padding=out_kernel // 2)


class ResidualTrunkGenerator(SRGenerator):
    """What SRResNet and the modified SRGAN share: the trunk's forward pass and its radius.

    Subclasses build ``head``, ``body``, ``body_tail``, ``upsample`` and ``out`` (their names fix
    the state-dict keys) and set ``n_blocks`` and ``out_kernel``. ``conv_after_resize`` says
    where each upsampling stage's 3x3 conv runs: after a resize (nearest + conv, at the higher
    resolution) or before it (sub-pixel conv, at the lower one).
    """

    conv_after_resize = False

    def _trunk_radius(self) -> float:
        rf = 4 + 2 * self.n_blocks + 1  # head, blocks, trunk tail (LR pixels)
        res = 1
        for f in upsample_factors(self.scale):
            rf += 1 / (res * f if self.conv_after_resize else res)  # each stage's 3x3 conv
            res *= f
        return rf + (self.out_kernel // 2) / res  # output conv at HR

    @property
    def receptive_field(self) -> int:
        return ceil_radius(self._trunk_radius())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)
        feat = feat + self.body_tail(self.body(feat))
        return self.out(self.upsample(feat))


class SRResNet(ResidualTrunkGenerator):
    """SRResNet (Ledig et al. 2017) as used by RFGANM: 16 blocks, 64 features by default.

    Parameters
    ----------
    scale : int
        2, 3, 4 or 8.
    in_channels : int
        Image channels (output has the same number).
    n_blocks, nf : int
        Residual blocks and features.
    bn : bool
        Batch norm in the residual blocks (the paper's choice; in eval mode it is a fixed
        affine map, so tiled inference is unaffected).
    out_kernel : int
        Size of the output conv (9 in the paper). It runs at HR with one output channel per
        image channel, a shape CPUs handle poorly: the fast preset uses 3.
    skip : {"none", "bicubic", "bilinear"}
        Image-level residual: add the bicubic (or bilinear) upsampled input to the output, so
        the network learns only the correction to interpolation (as in VDSR). Small networks
        trained briefly then do not fall below interpolation on nearly sharp inputs.
        ``"none"`` (the paper's network) is the default.
    """

    arch = "srresnet"

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 1,
        preset: str = "custom",
        n_blocks: int = 16,
        nf: int = 64,
        bn: bool = True,
        out_kernel: int = 9,
        skip: str = "none",
    ):
        if skip not in SKIPS:
            raise InputError(f"skip must be one of {list(SKIPS)}, got {skip!r}")
        extra = {} if skip == "none" else {"skip": skip}
        super().__init__(
            scale,
            in_channels,
            preset,
            n_blocks=n_blocks,
            nf=nf,
            bn=bn,
            out_kernel=out_kernel,
            **extra,
        )
        self.skip = skip
        self.n_blocks = n_blocks
        self.head = sr_head(in_channels, nf)
        self.body = nn.Sequential(*[ResidualBlock(nf, bn) for _ in range(n_blocks)])
        tail: list[nn.Module] = [nn.Conv2d(nf, nf, 3, padding=1)]
        if bn:
            tail.append(nn.BatchNorm2d(nf))
        self.body_tail = nn.Sequential(*tail)
        ups: list[nn.Module] = []
        for f in upsample_factors(scale):
            ups += [nn.Conv2d(nf, nf * f * f, 3, padding=1), nn.PixelShuffle(f), nn.PReLU(nf)]
        self.upsample = nn.Sequential(*ups)
        self.out_kernel = out_kernel
        self.out = sr_output(nf, in_channels, out_kernel)

    @property
    def receptive_field(self) -> int:
        # The interpolation skip reaches 2 LR px (bicubic), well inside the trunk's radius.
        return ceil_radius(max(self._trunk_radius(), 2.0 if self.skip != "none" else 0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.add_skip(super().forward(x), x)

    @staticmethod
    def grows(smaller: int, larger: int) -> bool:
        """Whether a network of scale ``smaller`` can start one of ``larger`` (its upsampling
        stages are the first of the larger one's)."""
        a, b = upsample_factors(smaller), upsample_factors(larger)
        return len(a) < len(b) and b[: len(a)] == a

    def load_smaller_scale(self, state: dict[str, torch.Tensor], scale: int) -> None:
        """Start from the weights of the same network at a smaller scale (a 4x model starting
        an 8x one): every weight is shared but the extra x2 upsampling stages'. These start as a
        copy of the features onto the finer grid (each sub-pixel channel picks its feature, the
        PReLU slope is 1): the output conv starts on the smaller model's features, enlarged.

        Raises :class:`InputError` when ``scale`` is not an earlier stage of this one's (4x
        starts 8x, 2x starts 4x and 8x) or the networks differ otherwise.
        """
        mine, theirs = upsample_factors(self.scale), upsample_factors(scale)
        if not self.grows(scale, self.scale):
            raise InputError(
                f"a {scale}x model cannot start a {self.scale}x one: a model starts only "
                "larger scales that add x2 stages to its own (2x -> 4x, 8x; 4x -> 8x)"
            )
        with torch.no_grad():
            for i in range(len(theirs), len(mine)):
                conv, prelu, f = self.upsample[3 * i], self.upsample[3 * i + 2], mine[i]
                conv.weight.zero_()
                conv.bias.zero_()
                for c in range(conv.in_channels):  # PixelShuffle reads channel c * f^2 + k
                    conv.weight[c * f * f : (c + 1) * f * f, c, 1, 1] = 1.0
                prelu.weight.fill_(1.0)
        own = self.state_dict()
        new = {k: v for k, v in own.items() if k.startswith("upsample.") and k not in state}
        try:
            self.load_state_dict({**state, **new}, strict=True)
        except RuntimeError as err:
            raise InputError(
                f"the {scale}x model does not match this {self.scale}x network "
                f"({str(err).splitlines()[0]})"
            ) from err

    def add_skip(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``out`` plus the image-level residual of ``skip`` (upsampled ``x``), if any."""
        if self.skip == "none":
            return out
        return out + F.interpolate(x, scale_factor=self.scale, mode=self.skip, align_corners=False)


class VGGDiscriminator(nn.Module):
    """SRGAN discriminator: 8 conv layers (stride 1/2 alternating), BN, LeakyReLU, dense head.

    Returns one logit per image, shape ``(N, 1)``. An adaptive average pool to 6 x 6 (the map
    size for the paper's 96 px patches) keeps the dense head valid for any patch size >= 16.
    """

    def __init__(self, in_channels: int = 1, nf: int = 64, bn: bool = True):
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
        self.pool = nn.AdaptiveAvgPool2d(6)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(c * 36, 1024), nn.LeakyReLU(0.2), nn.Linear(1024, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)))


# SRGAN / RFGANM: MSE + 0.006 x VGG (relu5_4 features scaled by 1/12.75, MSE) + 1e-3 x GAN.
_SRGAN_LOSS = {
    "pixel_mse": 1.0,
    "vgg": 0.006,
    "adv": 1e-3,
    "gan": "ns",
    "vgg_layers": "relu5_4",
    "vgg_criterion": "mse",
    "vgg_scale": 1 / 12.75,
}

SPEC = ArchSpec(
    name="srresnet",
    generator=SRResNet,
    discriminator=VGGDiscriminator,
    presets={
        "paper": {"n_blocks": 16, "nf": 64, "bn": True},
        "balanced": {"n_blocks": 8, "nf": 48, "bn": False},
        "fast": {"n_blocks": 4, "nf": 24, "bn": False, "out_kernel": 3},
    },
    disc_presets={"paper": {"nf": 64}, "balanced": {"nf": 32}, "fast": {"nf": 16}},
    scales=(2, 3, 4, 8),
    loss_defaults={p: dict(_SRGAN_LOSS) for p in ("paper", "balanced", "fast")},
    description="SRResNet generator (RFGANM, SRGAN) with sub-pixel upsampling",
)
