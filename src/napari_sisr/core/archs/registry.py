"""The architecture registry: a plain dict filled explicitly, and the builders that use it.

Every family module defines one :class:`~.base.ArchSpec` named ``SPEC``; this module lists the
families by hand (never by scanning folders), so the registry is complete after one import.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import InputError
from . import cascaded, conditioned, rrdb, srgan_nn, srresnet
from .base import ArchSpec, SRGenerator

#: name -> ArchSpec of every architecture family.
ARCHS: dict[str, ArchSpec] = {
    m.SPEC.name: m.SPEC for m in (srresnet, srgan_nn, rrdb, cascaded, conditioned)
}


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
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise InputError(f"in_channels must be a positive integer, got {in_channels!r}")
    if in_channels > 16:
        raise InputError(f"in_channels {in_channels} is more than a model takes here (16)")


#: Bounds of the integer settings of the architectures: what a model of this package can be
#: (a model file asking for ten million blocks is refused, not built until memory runs out).
INT_LIMITS = {
    "n_blocks": 128,
    "nf": 512,
    "gc": 256,
    "out_kernel": 15,
    "convs_per_module": 8,
    "n_dpf": 64,
    "dpf_size": 31,
    "cond_features": 256,
}
#: Largest generator, in parameters (the bundled models have about 0.4 million).
MAX_PARAMETERS = 100_000_000


def _check_settings(spec: ArchSpec, kwargs: dict[str, Any]) -> None:
    """Types and bounds of a generator's settings, named in the error."""
    import inspect
    import math

    params = inspect.signature(spec.generator).parameters
    free = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = sorted(k for k in params if k not in ("self", "scale", "in_channels", "preset"))
    for key in kwargs:
        if key in ("scale", "in_channels", "preset"):
            raise InputError(f"{spec.name}: {key} is set by the model itself, not as a setting")
        if key not in params and not free:
            raise InputError(
                f"{spec.name} has no setting {key!r} (its settings: {', '.join(named)})"
            )
    for key, value in kwargs.items():
        default = params[key].default if key in params else None
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise InputError(f"{spec.name} setting {key} must be true or false, got {value!r}")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(f"{spec.name} setting {key} must be an integer, got {value!r}")
            top = INT_LIMITS.get(key, 1024)
            if not 1 <= value <= top:
                raise InputError(f"{spec.name} setting {key} must be 1 to {top}, got {value}")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"{spec.name} setting {key} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise InputError(f"{spec.name} setting {key} must be finite, got {value}")
        elif isinstance(default, str) and not isinstance(value, str):
            raise InputError(f"{spec.name} setting {key} must be text, got {value!r}")


def _check_size(net: nn.Module, arch: str) -> None:
    n = sum(p.numel() for p in net.parameters())
    if n > MAX_PARAMETERS:
        raise InputError(
            f"this {arch} generator would have {n / 1e6:.0f} million parameters, more than the "
            f"{MAX_PARAMETERS / 1e6:.0f} million a model may have here"
        )


def check_generator(
    arch: str, preset: str = "fast", scale: int = 4, in_channels: int = 1, **overrides: Any
) -> dict[str, Any]:
    """Check a generator's settings without building it; returns the merged settings.

    Types and bounds (:data:`INT_LIMITS`) come first, then the network's size against
    :data:`MAX_PARAMETERS`, measured on torch's meta device (nothing is allocated).
    """
    import torch

    spec = get_spec(arch)
    _check(spec, preset, scale, in_channels)
    kwargs = {**spec.presets[preset], **overrides}
    _check_settings(spec, kwargs)
    with torch.device("meta"):
        _check_size(
            spec.generator(scale=scale, in_channels=in_channels, preset=preset, **kwargs), arch
        )
    return kwargs


def build_generator(
    arch: str, preset: str = "fast", scale: int = 4, in_channels: int = 1, **overrides: Any
) -> SRGenerator:
    """Build a generator from the registry with a preset and optional overrides.

    The settings are checked first (:func:`check_generator`).
    """
    kwargs = check_generator(arch, preset, scale, in_channels, **overrides)
    return get_spec(arch).generator(scale=scale, in_channels=in_channels, preset=preset, **kwargs)


def build_discriminator(
    arch: str, preset: str = "fast", in_channels: int = 1, **overrides: Any
) -> nn.Module:
    """Build the discriminator that the architecture's paper pairs with its generator."""
    spec = get_spec(arch)
    kwargs = {**spec.disc_presets.get(preset, spec.disc_presets.get("paper", {})), **overrides}
    return spec.discriminator(in_channels=in_channels, **kwargs)
