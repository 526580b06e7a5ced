"""Figure of where the blind default model helps and where it hurts (docs/models.md).

    python docs/scripts/blind_model_figure.py [--model default-4x] [--data ../shared/data]

Two held-out real images, each degraded inside the model's range and super-resolved with
``napari_sisr.predict``: BPAE actin at sigma 2 HR px / 2 % noise (detail the model restores)
and the Tribolium light-sheet projection at sigma 1 / 0.5 % (soft content the model mistakes
for blur and sharpens). PSNR against the HR image is printed on each panel.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "docs" / "images" / "blind_model_limits.png"
CASES = [
    ("fluorescence_2d/BPAE_actin.tif", 2.0, 0.02, (300, 520, 160), "BPAE actin, sigma 2, 2 %"),
    ("lightsheet/tribolium_mip.tif", 1.0, 0.005, (64, 64, 128), "Tribolium, sigma 1, 0.5 %"),
]


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_default_models import bicubic, degrade, held_out_hr

    from napari_sisr import predict
    from napari_sisr.core.metrics import psnr
    from napari_sisr.core.modelio import load_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default-4x")
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = load_model(args.model)
    s = int(model.scale)
    fig, axes = plt.subplots(len(CASES), 4, figsize=(12, 3.3 * len(CASES)))
    for row, (rel, sigma, frac, (y, x, n), title) in zip(axes, CASES, strict=True):
        hr = held_out_hr(Path(args.data) / rel, s)
        lr, _ = degrade(hr, s, sigma, frac, seed=0)
        sr = np.asarray(predict(lr, model, dtype="float32"))
        bi = bicubic(lr, s)
        dr = float(hr.max() - hr.min())
        lo, hi = np.percentile(hr, [0.5, 99.8])
        lr_up = np.kron(lr, np.ones((s, s)))
        panels = [
            ("LR (nearest)", lr_up, None),
            ("bicubic", bi, psnr(bi, hr, dr)),
            (args.model, sr, psnr(sr, hr, dr)),
            ("HR", hr, None),
        ]
        for ax, (name, img, score) in zip(row, panels, strict=True):
            ax.imshow(img[y : y + n, x : x + n], cmap="gray", vmin=lo, vmax=hi)
            label = name if score is None else f"{name}: {score:.2f} dB"
            ax.set_title(label, fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(title, fontsize=10)
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=80)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
