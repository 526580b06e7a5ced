"""Train the bundled PSF-width estimator (napari_sisr.core.degradation.blur_estimate).

    python scripts/train_sigma_estimator.py [--iters 2000] [--threads 1] [--out PATH]

Trains on simulations of the bundled models' training images (TRAIN and MORE of
``scripts/train_default_models.py``; never the held-out images the benchmarks score on),
x2 and x4 batches alternating, L1 on sigma in LR px, Adam with a cosine-decayed rate.
Writes ``PATH.safetensors`` and ``PATH.json`` (default: the bundled estimator). Measure it
with ``python benchmarks/bench_sigma_estimate.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from train_default_models import MORE, TRAIN, planes  # noqa: E402


def training_planes(data: Path) -> list[np.ndarray]:
    """Every training plane, normalised to its 0.1 / 99.9 percentiles."""
    out = []
    for rel, how in TRAIN + MORE:
        for p in planes(data / rel, how):
            lo, hi = np.percentile(p, [0.1, 99.9])
            out.append(((p - lo) / max(float(hi - lo), 1e-6)).astype(np.float32))
    return out


def main(argv=None) -> int:
    import torch
    from safetensors.torch import save_file

    from napari_sisr.core.degradation.blur_estimate import (
        ESTIMATOR,
        TRAINED_FOR,
        SigmaNet,
        sample_batch,
    )

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ESTIMATOR)
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 4], help="batches alternate")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng, gen = np.random.default_rng(args.seed), torch.Generator().manual_seed(args.seed)
    imgs = training_planes(args.data)
    net = SigmaNet()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    t0, losses = time.perf_counter(), []
    for it in range(args.iters):
        lr, target = sample_batch(imgs, 16, args.scales[it % len(args.scales)], rng, gen)
        for g in opt.param_groups:
            g["lr"] = 1e-3 * 0.5 * (1 + np.cos(np.pi * it / args.iters))
        loss = (net(lr) - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (it + 1) % 500 == 0:
            print(f"step {it + 1}: L1 {np.mean(losses[-500:]):.3f} LR px "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".safetensors.part")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp))
    tmp.replace(args.out.with_suffix(".safetensors"))
    card = {
        "format": "napari-sisr-sigma-estimator",
        "version": 1,
        "features": 32,
        "units": "LR px (multiply by the scale for HR px)",
        "trained_for": {**{k: list(v) for k, v in TRAINED_FOR.items()}, "scales": args.scales},
        "training": {
            "command": "python scripts/train_sigma_estimator.py "
            f"--iters {args.iters} --threads {args.threads} --seed {args.seed}"
            + ("" if args.scales == [2, 4] else " --scales " + " ".join(map(str, args.scales))),
            "steps": args.iters,
            "batch": 16,
            "final_l1_lr_px": round(float(np.mean(losses[-500:])), 4),
            "images": [rel for rel, _ in TRAIN + MORE],
        },
        "licence_of_training_data": "CC0 / CC-BY-4.0 / BSD-3 (see the data list)",
    }
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {args.out.with_suffix('.safetensors')} and its .json", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
