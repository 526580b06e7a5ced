"""What int8 quantisation is calibrated on: real images of the bundled sample data.

Calibrating on a fixed set rather than on each job's image makes an int8 result depend on its
image alone, and lets the quantised graph be built once per model and kept on disk beside the
exported graphs: quantising takes seconds, longer than a small job. The network sees
percentile-normalised images, so real microscopy images normalised the same way exercise the
same activation ranges. The set (a real TIRF frame and a real confocal frame, and the STORM and
STED images of the same fields binned to LR pixels) leaves out the images on which the int8
PSNR cost is measured (``benchmarks/bench_engines.py``). Jobs with a fixed intensity range or
no normalisation calibrate on their own tiles instead.
"""

from __future__ import annotations

import numpy as np

from .intensity import intensity_stats, normalize

__all__ = ["calibration_inputs"]


def calibration_inputs(
    channels: int, scale: int, normalization: dict, n: int = 8, side: int = 192
) -> list[np.ndarray]:
    """Up to ``n`` network inputs ``(1, channels, y, x)`` of at most ``side`` px, normalised as
    a job with ``normalization`` normalises its image (grey images repeated over channels)."""
    from ...sample_data import synapse_pair, tirf_storm_pair
    from ..degradation.pairs import block_mean

    tirf, storm = tirf_storm_pair()
    confocal, sted = synapse_pair()
    images = [
        tirf,
        confocal,
        block_mean(np.asarray(storm, float), scale),
        block_mean(sted.astype(float), scale),
    ]
    out = []
    for img in images:
        grey = np.asarray(img, np.float64)
        grey = grey.mean(axis=-1) if grey.ndim == 3 else grey
        stats = intensity_stats(grey.reshape(-1, 1), normalization, per_channel=True)
        x = normalize(grey[..., None], stats)[..., 0]
        h, w = x.shape
        corners = {(0, 0), (max(0, h - side), max(0, w - side))}
        for y0, x0 in sorted(corners):
            crop = np.ascontiguousarray(x[y0 : y0 + side, x0 : x0 + side], np.float32)
            out.append(np.repeat(crop[None, None], channels, axis=1))
    return out[:n]
