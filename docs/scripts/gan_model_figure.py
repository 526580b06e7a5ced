"""Figure of what the adversarial phase adds to the degradation-aware 4x model (docs/models.md).

    python docs/scripts/gan_model_figure.py [--content aware-4x] [--gan aware-4x-gan]

Two held-out real images, degraded inside the models' range and super-resolved with
``napari_sisr.predict``, both models told the true degradation: LR | bicubic | content model |
GAN-refined model | HR. Each panel gives its PSNR against the HR image and, just beyond the
LR's Nyquist frequency, the fine detail it shares with the HR image and its spectral power,
both relative to the HR image's (the measures of ``benchmarks/bench_default_models.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "docs" / "images" / "gan_model.png"
CASES = [
    ("fluorescence_2d/BPAE_actin.tif", 2.0, 0.02, (300, 520, 128), "BPAE actin, sigma 2, 2 %"),
    ("fluorescence_2d/nuclei_dsb2018.tif", 3.0, 0.05, (180, 180, 128), "nuclei, sigma 3, 5 %"),
]


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    sys.path.insert(0, str(REPO / "benchmarks"))
    from _common import detail_ratio, sharpness_ratio
    from bench_default_models import bicubic, degrade, held_out_hr

    from napari_sisr import predict
    from napari_sisr.core.metrics import psnr
    from napari_sisr.core.modelio import load_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--content", default="aware-4x")
    ap.add_argument("--gan", default="aware-4x-gan")
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    models = {"content": load_model(args.content), "GAN": load_model(args.gan)}
    s = int(models["content"].scale)
    fig, axes = plt.subplots(len(CASES), 5, figsize=(15, 3.4 * len(CASES)))
    for row, (rel, sigma, frac, (y, x, n), title) in zip(axes, CASES, strict=True):
        hr = held_out_hr(Path(args.data) / rel, s)
        lr, p = degrade(hr, s, sigma, frac, seed=0)
        dr = float(hr.max() - hr.min())
        lo, hi = np.percentile(hr, [0.5, 99.8])
        panels = [("LR (nearest)", np.kron(lr, np.ones((s, s))), False)]
        panels.append(("bicubic", bicubic(lr, s), True))
        for label, net in models.items():
            panels.append((label, np.asarray(predict(lr, net, degradation=p)), True))
        panels.append(("HR", hr, False))
        for ax, (name, img, scored) in zip(row, panels, strict=True):
            ax.imshow(img[y : y + n, x : x + n], cmap="gray", vmin=lo, vmax=hi)
            if scored:
                d, w = detail_ratio(img, hr, s), sharpness_ratio(img, hr, s)
                name = f"{name}: {psnr(img, hr, dr):.2f} dB\ndetail {d:.2f}, power {w:.2f}"
            ax.set_title(name, fontsize=10)
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
