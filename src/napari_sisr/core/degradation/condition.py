"""The condition vector of a degradation-aware generator, from degradation parameters.

Parameters here are in a model's *normalised* units (the units training simulates in and
inference normalises to: intensities mapped to about [0, 1] by percentiles), the order is
:data:`~napari_sisr.core.archs.conditioned.CONDITION_KEYS`.
"""

from __future__ import annotations

from .params import DegradationParams

__all__ = ["condition_of"]


def condition_of(p: DegradationParams) -> tuple[float, float, float, float]:
    """``(sigma_y, sigma_x, noise_std, poisson_a)`` of normalised-unit parameters."""
    sy, sx = p.sigma_yx
    return (float(sy), float(sx), float(p.noise_std), float(p.poisson_a or 0.0))
