"""Helpers shared by the inference benchmarks: the real-image folder and the models."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import torch


def data_dir() -> Path:
    env = os.environ.get("NAPARI_SISR_DATA")
    here = Path(__file__).resolve().parents[1]
    for cand in ([Path(env)] if env else []) + [here.parent / "shared" / "data"]:
        if cand.is_dir():
            return cand
    sys.exit("real images not found: set NAPARI_SISR_DATA to the shared data folder")


def real_image(name: str = "fluorescence_2d/BPAE_actin.tif") -> np.ndarray:
    from napari_sisr.core.io.images import read_image

    return read_image(data_dir() / name)


def srresnet(preset: str = "fast", scale: int = 4, channels: int = 1, seed: int = 0):
    """A registry SRResNet with random weights (inference speed and seams do not need training)."""
    from napari_sisr.core.archs import build_generator

    torch.manual_seed(seed)
    return build_generator("srresnet", preset, scale, channels).eval()


def best_of(fn, repeats: int) -> float:
    """Fastest wall time of ``repeats`` calls (the machine is shared: the minimum is the signal)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def table(rows: list[dict], cols: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    lines = ["  ".join(c.rjust(widths[c]) for c in cols)]
    lines += ["  ".join(str(r[c]).rjust(widths[c]) for c in cols) for r in rows]
    return "\n".join(lines)


def background_std_ratio(out: np.ndarray, bic: np.ndarray, hr: np.ndarray, s: int) -> float:
    """Std of ``out`` over the HR image's empty background, relative to bicubic's there.

    Background: pixels whose HR neighbourhood (Gaussian of 2 * s px) is in the lowest 20 %
    of the image, away from the border. Each image is first matched to the HR image by its
    own gain and offset (as for scoring).
    """
    from scipy import ndimage

    from napari_sisr.core.evaluate import BORDER_PER_SCALE, _fit_gain, _normalise

    target = _normalise(hr)
    smooth = ndimage.gaussian_filter(target, 2 * s)
    b = BORDER_PER_SCALE * s
    mask = np.zeros(hr.shape, bool)
    mask[b:-b, b:-b] = True
    mask &= smooth <= np.quantile(smooth[mask], 0.2)

    def matched(img):
        g, o = _fit_gain(img, target)
        return g * img + o

    return float(np.std(matched(out)[mask]) / max(np.std(matched(bic)[mask]), 1e-12))
