"""Draw docs/images/degradation_model.png: the degradation model step by step on a real image.

python docs/scripts/degradation_figure.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from napari_sisr import DegradationParams, simulate_lr
from napari_sisr.core.io.images import read_image
from napari_sisr.demo import find_data_dir

OUT = Path(__file__).resolve().parents[1] / "images" / "degradation_model.png"


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = find_data_dir()
    if data is None:
        sys.exit("shared data folder not found: set NAPARI_SISR_DATA")
    hr = read_image(data / "fluorescence_2d" / "BPAE_actin.tif").astype(np.float64)
    hr = hr[180:436, 420:676]
    s, sigma, shift = 4, 2.5, (2.0, -3.0)
    steps = [
        ("HR image", hr, 1),
        (
            f"T_shift: shifted by {shift} HR px",
            DegradationParams(scale=1, sigma=0.0, shift_yx=shift),
            1,
        ),
        (
            f"K_sigma: Gaussian PSF, sigma = {sigma} HR px",
            DegradationParams(scale=1, sigma=sigma, shift_yx=shift),
            1,
        ),
        (
            f"D_s: mean over {s}x{s} blocks",
            DegradationParams(scale=s, sigma=sigma, shift_yx=shift),
            s,
        ),
    ]
    p_final = DegradationParams(scale=s, sigma=sigma, shift_yx=shift, gain=0.5, offset=100.0)
    clean = simulate_lr(hr, p_final, noise=False)
    p_final.noise_var = float((0.03 * np.ptp(clean)) ** 2)
    fig, axes = plt.subplots(1, 5, figsize=(16, 3.6))
    for ax, (title, what, _) in zip(axes, steps, strict=False):
        img = what if isinstance(what, np.ndarray) else simulate_lr(hr, what, noise=False)
        ax.imshow(img, cmap="gray", vmin=np.percentile(hr, 0.5), vmax=np.percentile(hr, 99.8))
        ax.set_title(title, fontsize=9)
    lr = simulate_lr(hr, p_final, rng=np.random.default_rng(0))
    axes[4].imshow(lr, cmap="gray")
    axes[4].set_title("gain 0.5, offset 100, noise std 3 % of range", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("LR = gain * D_s( K_sigma * T_shift(HR) ) + offset + noise", fontsize=11)
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=80)
    print(f"saved {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
