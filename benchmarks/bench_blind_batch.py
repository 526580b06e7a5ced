"""Simulating one blind training batch: batched operators and blurs vs one patch at a time.

Blind training draws its own blur for every patch (and, with soft specimens, its own blur of
the HR patch). This times the batched code the trainer uses (``simulate_lr_torch`` with one
parameter set per patch, ``soften``) against a per-patch loop doing the same work (one sparse
operator pair and one convolution pair per patch), on the same patches, and prints the ratio.
Both give the same LR batch (checked here too).

    python benchmarks/bench_blind_batch.py [--batch 64] [--patch 96] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from napari_sisr.core.degradation.simulate import axis_operator, simulate_lr_torch, soften
from napari_sisr.core.training.config import DegradationRange


def per_patch(hr, params, content):
    """The same simulation, one patch at a time (noise left out: compared exactly)."""
    outs = []
    for i, (p, cs) in enumerate(zip(params, content, strict=True)):
        x = hr[i : i + 1]
        if cs > 0:
            r = max(1, min(math.ceil(3 * cs), min(x.shape[-2:]) - 1))
            t = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
            k = torch.exp(-0.5 * (t / cs) ** 2)
            k = k / k.sum()
            x = F.pad(x, (r, r, r, r), mode="reflect")
            x = F.conv2d(x, k.view(1, 1, 1, -1))
            x = F.conv2d(x, k.view(1, 1, -1, 1))
        (sy, sx), (dy, dx) = p.sigma_yx, p.shift_yx
        ay = torch.as_tensor(axis_operator(x.shape[-2], p.scale, sy, dy).toarray(), dtype=x.dtype)
        ax = torch.as_tensor(axis_operator(x.shape[-1], p.scale, sx, dx).toarray(), dtype=x.dtype)
        outs.append((ay.to(x.device) @ x @ ax.to(x.device).T) * p.gain + p.offset)
    return torch.cat(outs)


def batched(hr, params, content):
    return simulate_lr_torch(soften(hr, content), params, noise=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--patch", type=int, default=96, help="HR patch size")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    model = DegradationRange(
        scale=4, sigma=(1.0, 3.0), noise_std=(0.005, 0.05), content_sigma=(0.0, 3.0)
    )
    rng = np.random.default_rng(0)
    hr = torch.rand(args.batch, 1, args.patch, args.patch, device=dev)

    def draw():  # fresh kernels every batch, as in training (no cache hits)
        params = [model.sample(rng) for _ in range(args.batch)]
        return params, [model.sample_content_sigma(rng) for _ in range(args.batch)]

    params, content = draw()
    diff = (batched(hr, params, content) - per_patch(hr, params, content)).abs().max().item()
    times = {}
    for name, fn in (("per patch", per_patch), ("batched", batched)):
        fn(hr, *draw())  # warm-up
        total = 0.0
        for _ in range(args.repeats):
            p, c = draw()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
            fn(hr, p, c)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            total += time.perf_counter() - t0
        times[name] = total / args.repeats
    print(f"batch {args.batch} x {args.patch}^2 HR px on {dev}, {args.threads} CPU threads")
    for name, t in times.items():
        print(f"  {name:9s}: {1000 * t:7.2f} ms per batch")
    ratio = times["per patch"] / times["batched"]
    print(f"  batched is {ratio:.1f}x faster; max |diff| {diff:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
