"""How well is the PSF width read from the LR image alone? The learned estimator, measured.

The degradation-aware models steer automatically with the noise estimated from the image and
the PSF width from the image's metadata; without metadata, from the image itself by the
bundled learned estimator (:mod:`napari_sisr.core.degradation.blur_estimate`, trained by
``scripts/train_sigma_estimator.py`` on other images) where the model card says so, else from
the card's fixed default. This benchmark scores the estimator on the held-out grid of
``bench_default_models.py`` (sigma 1, 2, 3 HR px x noise 0.5, 2, 5 %, four images, at x2 and
x4) against each aware model's fixed default. A card should use the estimate only at a scale
where its error is below the default's.

    python benchmarks/bench_sigma_estimate.py [--estimator PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_dir  # noqa: E402
from bench_default_models import HELD_OUT, NOISES, SIGMAS, degrade, held_out_hr  # noqa: E402

from napari_sisr.core.degradation.blur_estimate import estimate_sigma  # noqa: E402
from napari_sisr.core.modelio import load_model  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--estimator", help="a .safetensors estimator (default: the bundled one)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = data_dir()
    print("| scale | image | true sigma (HR px): estimates at noise 0.5 / 2 / 5 % |")
    print("|---|---|---|")
    errors: dict[int, list[tuple[float, float]]] = {2: [], 4: []}
    for s in (4, 2):
        default = float(load_model(f"aware-{s}x").meta["steering"]["sigma"])
        truths = SIGMAS  # HR px at both scales, as the held-out grid has them
        for k, rel in enumerate(HELD_OUT):
            hr = held_out_hr(data / rel, s)
            cells = []
            for sigma in truths:
                est = []
                for frac in NOISES:
                    lr, _ = degrade(hr, s, sigma, frac, k)
                    e = estimate_sigma(lr, s, args.estimator)
                    est.append(e)
                    errors[s].append((abs(e - sigma), abs(default - sigma)))
                cells.append(f"{sigma:g}: " + " / ".join(f"{e:.2f}" for e in est))
            print(f"| x{s} | {Path(rel).name} | " + "; ".join(cells) + " |")
    print()
    for s, errs in errors.items():
        e = np.array(errs)
        print(
            f"x{s}: mean absolute error {e[:, 0].mean():.2f} HR px (learned) against "
            f"{e[:, 1].mean():.2f} HR px (the card's default of aware-{s}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
