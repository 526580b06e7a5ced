"""Accuracy of the unpaired noise estimate (``estimate_noise``) on real images.

Every real plane of ``bench_fit.py`` (at its own size, no mirroring) is degraded without noise
(scale 2 or 4, sigma 1-3 HR px), white Gaussian noise of 1, 2 or 5 % of the LR range is added,
and the noise variance is estimated from the noisy LR image alone. Prints the relative error
per case and a summary by noise level and LR size.

    python benchmarks/bench_noise.py [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from bench_fit import data_dir, real_planes

from napari_sisr import DegradationParams, estimate_noise, simulate_lr

FRACTIONS = (0.01, 0.02, 0.05)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    rows = []
    print(f"{'image':<34} {'LR':>9} s sigma " + " ".join(f"{f:>6.0%}" for f in FRACTIONS))
    for name, img in real_planes(data_dir()):
        for scale, sigma in ((2, float(rng.uniform(1, 3))), (4, float(rng.uniform(1, 3)))):
            clean = simulate_lr(img, DegradationParams(scale=scale, sigma=sigma), noise=False)
            clean = clean.astype(np.float64)
            if min(clean.shape) < 32:
                print(f"{name:<34} {clean.shape[0]}x{clean.shape[1]} s={scale}: too small, skipped")
                continue
            errs = []
            for frac in FRACTIONS:
                std = frac * np.ptp(clean)
                noisy = clean + std * rng.standard_normal(clean.shape)
                t0 = time.perf_counter()
                var, _ = estimate_noise(noisy)
                seconds = time.perf_counter() - t0
                errs.append(var / std**2 - 1)
                rows.append({"frac": frac, "err": errs[-1], "size": min(clean.shape), "s": seconds})
            shape = f"{clean.shape[0]}x{clean.shape[1]}"
            print(
                f"{name:<34} {shape:>9} {scale} {sigma:5.2f} "
                + " ".join(f"{100 * e:+5.1f}%" for e in errs),
                flush=True,
            )
    err = np.array([r["err"] for r in rows])
    worst = err[np.argmax(np.abs(err))]
    print(
        f"\n{len(rows)} estimates: median |error| {100 * np.median(np.abs(err)):.1f} %, "
        f"within 10 %: {np.mean(np.abs(err) < 0.10):.1%}, worst {100 * worst:+.1f} %"
    )
    for frac in FRACTIONS:
        e = np.array([r["err"] for r in rows if r["frac"] == frac])
        print(
            f"  noise {frac:.0%}: median |error| {100 * np.median(np.abs(e)):.1f} %, "
            f"within 10 %: {np.mean(np.abs(e) < 0.10):.1%}, median bias {100 * np.median(e):+.1f} %"
        )
    for lo, hi in ((0, 128), (128, 10**9)):
        e = np.array([r["err"] for r in rows if lo <= r["size"] < hi])
        if len(e):
            label = f"LR side {'<' if lo == 0 else '>='} 128: {len(e)} estimates"
            print(
                f"  {label}, median |error| {100 * np.median(np.abs(e)):.1f} %, "
                f"within 10 %: {np.mean(np.abs(e) < 0.10):.1%}"
            )
    secs = np.array([r["s"] for r in rows])
    print(f"  time per estimate: median {np.median(secs):.2f} s, max {secs.max():.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
