"""The pieces of the consistency map: the SR image through the degradation, and its regions.

Shared by the whole-plane (:mod:`.consistency`) and the tiled (:mod:`.tiled`) computations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: |z| above this is flagged: three noise standard deviations.
Z_FLAG = 3.0
#: A region is flagged when at least this many neighbouring LR pixels exceed :data:`Z_FLAG`,
#: or one pixel exceeds :data:`Z_SINGLE`.
MIN_REGION, Z_SINGLE = 3, 5.0
#: A residual whose lag-1 autocorrelation exceeds this is structured, not white.
WHITE_LAG1 = 0.2


@dataclass
class Region:
    """A connected region of LR pixels the capture does not support."""

    bbox: tuple[int, int, int, int]  # y0, x0, y1, x1 on the LR grid
    pixels: int
    mean_z: float  # sign: > 0 the capture is brighter (SR lacks signal), < 0 SR has extra

    @property
    def kind(self) -> str:
        return "missing in the result" if self.mean_z > 0 else "not in the capture"

    def as_dict(self) -> dict:
        return {
            "bbox": list(self.bbox),
            "pixels": self.pixels,
            "mean_z": self.mean_z,
            "kind": self.kind,
        }


def degrade(sr: np.ndarray, scale: int, sigma_yx: tuple[float, float], shift_yx=(0.0, 0.0)):
    """The SR image through the PSF and pixel integration, without gain, offset and noise:
    exactly the simulation of the degradation model (:mod:`..degradation.simulate`)."""
    from ..degradation.params import DegradationParams
    from ..degradation.simulate import simulate_lr

    sy, sx = sigma_yx
    params = DegradationParams(scale=scale, shift_yx=tuple(shift_yx)).with_sigma(
        sigma_yx=(float(sy), float(sx))
    )
    return simulate_lr(np.asarray(sr, np.float64), params, noise=False).astype(np.float64)


def _linear(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Least-squares ``g, o`` with ``b ~ g * a + o``."""
    am, bm = a.mean(), b.mean()
    var = float(((a - am) ** 2).mean())
    g = float(((a - am) * (b - bm)).mean() / var) if var > 0 else 1.0
    return g, float(bm - g * am)


def lag1(r: np.ndarray) -> float:
    """Mean lag-1 autocorrelation of a residual along Y and X (0 for white noise)."""
    r = r - r.mean()
    v = float((r * r).mean())
    if v <= 0:
        return 0.0
    ay = float((r[1:] * r[:-1]).mean()) / v
    ax = float((r[:, 1:] * r[:, :-1]).mean()) / v
    return (ay + ax) / 2


def regions(z: np.ndarray) -> list[Region]:
    """Connected regions of ``|z| > 3`` (8-connected, sign by sign) of at least
    :data:`MIN_REGION` pixels, or holding a pixel beyond :data:`Z_SINGLE`, largest first."""
    from scipy import ndimage

    out = []
    zz = np.nan_to_num(z, nan=0.0)
    for sign in (1, -1):
        mask = sign * zz > Z_FLAG
        labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
        if n == 0:
            continue
        index = np.arange(1, n + 1)
        sizes = ndimage.sum(mask, labels, index)
        peaks = ndimage.maximum(sign * zz, labels, index)
        means = ndimage.mean(zz, labels, index)
        boxes = ndimage.find_objects(labels)
        for k, box in enumerate(boxes):
            if sizes[k] >= MIN_REGION or peaks[k] >= Z_SINGLE:
                y, x = box
                out.append(
                    Region((y.start, x.start, y.stop, x.stop), int(sizes[k]), float(means[k]))
                )
    return sorted(out, key=lambda r: -r.pixels)
