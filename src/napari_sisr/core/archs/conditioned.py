"""A degradation-aware SRResNet: the trunk is steered by the PSF and noise of the LR image.

The network is :class:`~.srresnet.SRResNet` (same trunk, same state-dict keys, so a bundled
SRResNet initialises it) plus a small condition network: the degradation parameters
(:data:`CONDITION_KEYS`, in the model's normalised units) go through a two-layer perceptron,
and every residual block scales and shifts its features by what that perceptron gives for it
(feature-wise modulation, as in conditional super-resolution). The modulation of a block
starts at zero, so an untrained condition network leaves the trunk as it was.

The condition is one vector per image, not per pixel: tiled output equals untiled output to
round-off whatever the condition. ``forward(x)`` uses the stored :attr:`condition` buffer
(what :func:`napari_sisr.predict` sets from a fit, typed values, optics or the image itself,
and what the exported graphs bake in); training passes one condition per patch to
``forward(x, condition)``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import InputError
from . import srresnet
from .base import ArchSpec
from .srresnet import SRResNet, VGGDiscriminator

#: What the condition vector holds, in order: PSF widths (HR px of the model's scale), the
#: Gaussian noise standard deviation (fraction of the LR image's normalised intensity range)
#: and the Poisson gain (normalised units: variance ``poisson_a * signal``).
CONDITION_KEYS = ("sigma_y", "sigma_x", "noise_std", "poisson_a")

__all__ = ["CONDITION_KEYS", "SPEC", "DegradationAwareSRResNet", "condition_features"]


def condition_features(condition: torch.Tensor, scale: int) -> torch.Tensor:
    """The perceptron's input: the condition rescaled to order one over the useful ranges
    (sigma per LR pixel, noise in tenths of the range, the Poisson standard deviation of a
    mid-grey pixel in tenths of the range)."""
    sy, sx, std, a = condition.unbind(-1)
    return torch.stack(
        [sy / scale, sx / scale, 10.0 * std, 10.0 * torch.sqrt(a.clamp(min=0.0) * 0.5)], -1
    )


class DegradationAwareSRResNet(SRResNet):
    """SRResNet whose residual blocks are modulated by the degradation parameters.

    Parameters are those of :class:`~.srresnet.SRResNet`, plus ``cond_features`` (width of
    the condition perceptron). See the module docstring for the condition.
    """

    arch = "srresnet_da"
    conditioned = True

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
        cond_features: int = 64,
    ):
        super().__init__(scale, in_channels, preset, n_blocks, nf, bn, out_kernel, skip)
        self.arch_kwargs["cond_features"] = cond_features
        self.nf = nf
        self.cond_net = nn.Sequential(
            nn.Linear(len(CONDITION_KEYS), cond_features),
            nn.ReLU(),
            nn.Linear(cond_features, cond_features),
            nn.ReLU(),
        )
        self.modulation = nn.Linear(cond_features, 2 * nf * n_blocks)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)
        self.register_buffer("condition", torch.zeros(len(CONDITION_KEYS)))

    # ------------------------------------------------------------------ condition
    def set_condition(self, values: Sequence[float]) -> None:
        """Store the condition that ``forward(x)`` uses (:data:`CONDITION_KEYS` order)."""
        v = [float(x) for x in values]
        if len(v) != len(CONDITION_KEYS) or not all(math.isfinite(x) and x >= 0 for x in v):
            raise InputError(
                f"a condition is {len(CONDITION_KEYS)} non-negative numbers "
                f"({', '.join(CONDITION_KEYS)}), got {list(values)}"
            )
        with torch.no_grad():
            self.condition.copy_(torch.tensor(v, dtype=self.condition.dtype))

    def with_condition(self, values: Sequence[float]) -> DegradationAwareSRResNet:
        """A copy of this network steered by ``values`` (the original is left as it is)."""
        net = copy.deepcopy(self)
        net.set_condition(values)
        return net

    def _film(self, condition: torch.Tensor | None, n: int, dtype) -> torch.Tensor:
        if condition is None:
            condition = self.condition.expand(n, -1)
        elif condition.shape != (n, len(CONDITION_KEYS)):
            raise InputError(
                f"expected a condition of shape ({n}, {len(CONDITION_KEYS)}), "
                f"got {tuple(condition.shape)}"
            )
        feats = condition_features(condition.to(self.condition.dtype), self.scale)
        film = self.modulation(self.cond_net(feats))
        return film.view(n, len(self.body), 2, self.nf, 1, 1).to(dtype)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        film = self._film(condition, x.shape[0], x.dtype)
        feat = self.head(x)
        h = feat
        for i, block in enumerate(self.body):
            conv1, *rest = block.body
            y = conv1(h) * (1.0 + film[:, i, 0]) + film[:, i, 1]
            for layer in rest:
                y = layer(y)
            h = h + y
        feat = feat + self.body_tail(h)
        return self.add_skip(self.out(self.upsample(feat)), x)


SPEC = ArchSpec(
    name="srresnet_da",
    generator=DegradationAwareSRResNet,
    discriminator=VGGDiscriminator,
    # SRResNet's presets without batch norm (the modulation scales features that batch norm
    # would normalise away), its discriminator, scales and losses
    presets={p: {**v, "bn": False} for p, v in srresnet.SPEC.presets.items()},
    disc_presets={p: dict(v) for p, v in srresnet.SPEC.disc_presets.items()},
    scales=srresnet.SPEC.scales,
    loss_defaults={p: dict(v) for p, v in srresnet.SPEC.loss_defaults.items()},
    init_from=("srresnet",),
    description=(
        "degradation-aware SRResNet: residual blocks modulated by the PSF width and noise, "
        "steered at inference by a fit, typed values, optics or the image itself"
    ),
)
