"""Self-ensemble: the network run on flipped and rotated copies of each tile, averaged.

A network trained on one small field has learnt its patches in every orientation (training
flips and rotates them) but answers a little differently in each; averaging the eight answers
(four rotations, each also mirrored), turned back, removes part of that noise. On real LR/HR
pairs it raised the PSNR of models trained on one half of a pair by 0.11 dB on average (17
of 18 halves), that of their GAN-refined versions by 0.18 dB, that of the bundled models by
0.02-0.05 dB (``benchmarks/bench_ensemble.py``,
benchmarks/reports/real-captures-history.md), for about seven times the inference time of a
plain run.

Each orientation is a whole forward pass of the same tile with its halo, so tiled output
still equals untiled output. Degradation-aware networks may be told a PSF wider along y than
along x: a quarter turn would swap those, so they use the four orientations that keep the
axes (identity, the two mirrors and the half turn).
"""

from __future__ import annotations

import numpy as np

__all__ = ["orientations", "turn", "unturn"]

Orientation = tuple[int, bool]  # (quarter turns, mirrored left-right after turning)


def orientations(keep_axes: bool = False) -> list[Orientation]:
    """The orientations averaged: all eight, or the four that keep y along y."""
    turns = (0, 2) if keep_axes else (0, 1, 2, 3)
    return [(k, m) for k in turns for m in (False, True)]


def turn(x: np.ndarray, o: Orientation) -> np.ndarray:
    """``x`` (``(..., y, x)``) in orientation ``o``, contiguous."""
    k, mirror = o
    y = np.rot90(x, k, axes=(-2, -1))
    if mirror:
        y = y[..., ::-1]
    return np.ascontiguousarray(y)


def unturn(y: np.ndarray, o: Orientation) -> np.ndarray:
    """Undo :func:`turn` on a network's output."""
    k, mirror = o
    if mirror:
        y = y[..., ::-1]
    return np.rot90(y, -k, axes=(-2, -1))
