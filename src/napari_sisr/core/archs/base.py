"""The contract every architecture follows.

A generator maps ``(N, C, y, x)`` to ``(N, C, s*y, s*x)`` and carries the attributes the rest of
the package relies on: ``scale``, ``in_channels``, ``arch``, ``preset``, ``arch_kwargs`` (enough
to rebuild it), ``receptive_field`` (radius in LR pixels that influences one output pixel; the
tiling halo) and ``flops_per_output_pixel``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


class SRGenerator(nn.Module):
    """Base class of all generators: stores the rebuild information."""

    arch: str = ""

    def __init__(self, scale: int, in_channels: int, preset: str = "custom", **kwargs: Any):
        super().__init__()
        self.scale = int(scale)
        self.in_channels = int(in_channels)
        self.out_channels = int(in_channels)
        self.preset = preset
        self.arch_kwargs: dict[str, Any] = dict(kwargs)

    @property
    def receptive_field(self) -> int:
        """Radius in LR pixels of the region that influences one output pixel."""
        raise NotImplementedError

    def forward_levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of every refinement level, coarse to fine; the last is ``forward(x)``.

        Single-level generators return ``[forward(x)]``; the cascaded generator returns one
        image per x2 level (for its multi-level DPF content loss).
        """
        return [self(x)]

    def flops_per_output_pixel(self) -> float:
        """Multiply-accumulates x 2 per output (HR) pixel, from a traced forward pass."""
        from .flops import count_flops

        return count_flops(self)


@dataclass
class ArchSpec:
    """Registry entry of one architecture family.

    Attributes
    ----------
    name : str
        Registry key (``"srresnet"``, ``"srgan_nn"``, ``"rrdb"``, ``"cascaded"``).
    generator, discriminator : callable
        Classes (or factories) taking ``scale``, ``in_channels`` and preset keyword arguments.
    presets : dict
        Preset name -> dict of generator kwargs; ``"paper"`` and ``"fast"`` at least.
    disc_presets : dict
        Preset name -> dict of discriminator kwargs (missing names use ``"paper"``).
    scales : tuple of int
        Supported scales.
    init_from : tuple of str
        Other families whose models may start this one's training (``--init``): their
        weights fill the matching parts.
    loss_defaults : dict
        Preset name -> default loss weights of the paper the family comes from, with the keys
        :func:`napari_sisr.core.losses.build_generator_loss` understands (``pixel_l1``,
        ``pixel_mse``, ``ssim``, ``dpf_content``, ``vgg``, ``adv``, ``gan``,
        ``label_smoothing``).
    """

    name: str
    generator: Callable[..., SRGenerator]
    discriminator: Callable[..., nn.Module]
    presets: dict[str, dict[str, Any]]
    disc_presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    scales: tuple[int, ...] = (2, 4, 8)
    loss_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    init_from: tuple[str, ...] = ()
