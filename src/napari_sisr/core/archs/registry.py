"""The architecture registry: a plain dict filled explicitly, and the builders that use it.

Every family module defines one :class:`~.base.ArchSpec` named ``SPEC``; this module lists the
families by hand (never by scanning folders), so the registry is complete after one import.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import InputError
from . import cascaded, rrdb, srgan_nn, srresnet
from .base import ArchSpec, SRGenerator

#: name -> ArchSpec of every architecture family.
ARCHS: dict[str, ArchSpec] = {m.SPEC.name: m.SPEC for m in (srresnet, srgan_nn, rrdb, cascaded)}


def get_spec(arch: str) -> ArchSpec:
    """The registry entry of ``arch`` (an :class:`InputError` naming the known ones if none)."""
    try:
        return ARCHS[arch]
    except KeyError:
        raise InputError(f"unknown architecture {arch!r}; choose from {sorted(ARCHS)}") from None


def _check(spec: ArchSpec, preset: str, scale: int, in_channels: int) -> None:
    if preset not in spec.presets:
        raise InputError(
            f"architecture {spec.name!r} has no preset {preset!r}; choose from "
            f"{sorted(spec.presets)}"
        )
    if scale not in spec.scales:
        raise InputError(
            f"architecture {spec.name!r} does not support scale {scale}; supported: "
            f"{list(spec.scales)}"
        )
    if in_channels < 1:
        raise InputError(f"in_channels must be >= 1, got {in_channels}")


def build_generator(
    arch: str, preset: str = "fast", scale: int = 4, in_channels: int = 1, **overrides: Any
) -> SRGenerator:
    """Build a generator from the registry with a preset and optional overrides."""
    spec = get_spec(arch)
    _check(spec, preset, scale, in_channels)
    kwargs = {**spec.presets[preset], **overrides}
    return spec.generator(scale=scale, in_channels=in_channels, preset=preset, **kwargs)


def build_discriminator(
    arch: str, preset: str = "fast", in_channels: int = 1, **overrides: Any
) -> nn.Module:
    """Build the discriminator that the architecture's paper pairs with its generator."""
    spec = get_spec(arch)
    kwargs = {**spec.disc_presets.get(preset, spec.disc_presets.get("paper", {})), **overrides}
    return spec.discriminator(in_channels=in_channels, **kwargs)
