"""The bounds of the values every front end takes, each stated once.

Configs validate against them, widgets take them as their spin boxes' ranges, and the
command line is checked by the configs, so a value refused in one place is refused in all.
"""

from __future__ import annotations

__all__ = ["MAX_NOISE_FRACTION", "MAX_SCALE", "MAX_SIGMA_HR", "MAX_TILE", "MIN_SCALE", "MIN_TILE"]

#: Super-resolution factors (HR pixels per LR pixel along each axis).
MIN_SCALE, MAX_SCALE = 2, 16  # configs also take 1: the same grid
#: Widest Gaussian PSF sigma, in HR pixels.
MAX_SIGMA_HR = 64.0
#: Largest noise standard deviation as a fraction of the image's intensity range.
MAX_NOISE_FRACTION = 1.0
#: Tile sides of tiled inference, in LR pixels.
MIN_TILE, MAX_TILE = 8, 16384
