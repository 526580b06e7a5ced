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


def background_mask(hr: np.ndarray, s: int, lr_up: np.ndarray | None = None) -> np.ndarray:
    """Empty background: pixels whose HR neighbourhood (Gaussian of 2 * s px) is in the lowest
    20 % of the image, away from the border; given ``lr_up`` (the LR capture's bicubic
    upsampling), also in its lowest 20 %: empty in both captures."""
    from scipy import ndimage

    from napari_sisr.core.evaluation.scoring import BORDER_PER_SCALE, _normalise

    b = BORDER_PER_SCALE * s
    mask = np.zeros(hr.shape, bool)
    mask[b:-b, b:-b] = True
    inside = mask.copy()
    for img in (_normalise(hr), lr_up):
        if img is not None:
            smooth = ndimage.gaussian_filter(np.asarray(img, float), 2 * s)
            mask &= smooth <= np.quantile(smooth[inside], 0.2)
    return mask


def _matched(img: np.ndarray, hr: np.ndarray) -> np.ndarray:
    from napari_sisr.core.evaluation.scoring import _fit_gain, _normalise

    g, o = _fit_gain(img, _normalise(hr))
    return g * img + o


def background_std_ratio(
    out: np.ndarray, bic: np.ndarray, hr: np.ndarray, s: int, both: bool = False
) -> float:
    """Std of ``out`` over the HR image's empty background, relative to bicubic's there.

    Background: see :func:`background_mask` (``both``: empty in the LR capture too). Each image
    is first matched to the HR image by its own gain and offset (as for scoring).
    """
    mask = background_mask(hr, s, bic if both else None)
    return float(np.std(_matched(out, hr)[mask]) / max(np.std(_matched(bic, hr)[mask]), 1e-12))


def background_departure_ratio(out: np.ndarray, bic: np.ndarray, hr: np.ndarray, s: int) -> float:
    """Std of ``out`` minus the HR image over the background empty in both captures, relative
    to bicubic's: structure the HR image itself holds there (a reconstruction's dim texture)
    and the output reproduces is not counted as invented, as the plain std ratio counts it."""
    from napari_sisr.core.evaluation.scoring import _normalise

    mask = background_mask(hr, s, bic)
    target = _normalise(hr)[mask]
    return float(
        np.std(_matched(out, hr)[mask] - target)
        / max(np.std(_matched(bic, hr)[mask] - target), 1e-12)
    )


def _band_spectra(out: np.ndarray, hr: np.ndarray, s: int):
    """Spectra of ``out`` and of the HR image in the band just beyond the LR's Nyquist
    frequency (1-2x it: 0.5/s to 1/s cycles per HR pixel), both matched to the HR image by
    their own gain and offset and tapered by a Hann window."""
    from napari_sisr.core.evaluation.scoring import _fit_gain, _normalise

    target = _normalise(hr)
    g, o = _fit_gain(out, target)
    win = np.outer(np.hanning(hr.shape[0]), np.hanning(hr.shape[1]))
    radius = np.hypot(np.fft.fftfreq(hr.shape[0])[:, None], np.fft.fftfreq(hr.shape[1])[None, :])
    band = (radius > 0.5 / s) & (radius <= 1.0 / s)

    def spectrum(a):
        return np.fft.fft2((a - a.mean()) * win)[band]

    return spectrum(g * out + o), spectrum(target)


def sharpness_ratio(out: np.ndarray, hr: np.ndarray, s: int) -> float:
    """Spectral power of ``out`` just beyond the LR's Nyquist frequency relative to the HR
    image's: below 1 smoother than the HR image, above 1 more high-frequency content (true
    detail, amplified noise or invented texture alike)."""
    f_out, f_hr = _band_spectra(out, hr, s)
    return float(np.sum(np.abs(f_out) ** 2) / max(np.sum(np.abs(f_hr) ** 2), 1e-12))


def detail_ratio(out: np.ndarray, hr: np.ndarray, s: int) -> float:
    """How much of the HR image's fine detail ``out`` restores: the part of its spectrum just
    beyond the LR's Nyquist frequency that agrees with the HR image's (cross-power), relative
    to the HR image's power there. Noise and invented texture do not agree with the HR image,
    so they add nothing (through the gain match they lower it a little); 1 would be every
    fine detail restored."""
    f_out, f_hr = _band_spectra(out, hr, s)
    cross = np.sum((f_out * np.conj(f_hr)).real)
    return float(cross / max(np.sum(np.abs(f_hr) ** 2), 1e-12))
