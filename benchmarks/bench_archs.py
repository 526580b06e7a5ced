"""Architecture table: parameters, receptive field, FLOPs and CPU throughput per preset.

Usage::

    python benchmarks/bench_archs.py                 # all archs, presets, scales 2/4/8
    python benchmarks/bench_archs.py --arch rrdb --preset fast --time-scales 2 4 8

Throughput is output megapixels per second of a forward pass (eval, no grad, float32) on a
``--size`` square LR input with ``torch.set_num_threads(--threads)``: the median of ``--repeats``
timed runs after one warm-up. Configurations whose forward pass would exceed ``--budget-gflop``
are timed on the largest smaller square input that fits (shown in the "timed on" column);
conv throughput per pixel barely depends on size once inputs are a few dozen pixels wide.
Timings on a shared machine vary; compare rows from one run.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from napari_sisr.core.archs import ARCHS, build_generator


def _throughput(net, size: int, scale: int, repeats: int) -> float:
    x = torch.rand(1, net.in_channels, size, size, generator=torch.Generator().manual_seed(0))
    times = []
    with torch.inference_mode():
        net(x[..., : min(size, 32), : min(size, 32)])  # warm-up (allocator, kernels)
        for _ in range(repeats):
            t0 = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - t0)
    return (size * scale) ** 2 / statistics.median(times) / 1e6


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", nargs="*", default=sorted(ARCHS))
    p.add_argument("--preset", nargs="*", default=None, help="default: every preset")
    p.add_argument("--scales", nargs="*", type=int, default=[2, 4, 8])
    p.add_argument("--time-scales", nargs="*", type=int, default=[4], help="scales to time")
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--size", type=int, default=256, help="LR input size for timing")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--budget-gflop", type=float, default=100.0)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    head = ("arch", "preset", "scale", "params", "RF (LR px)", "kFLOP/out px", "Mpx/s", "timed on")
    print(f"torch {torch.__version__}, {args.threads} threads, {args.channels} channel(s)")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for arch in args.arch:
        spec = ARCHS[arch]
        for preset in args.preset or list(spec.presets):
            if preset not in spec.presets:
                continue
            for scale in args.scales:
                if scale not in spec.scales:
                    continue
                torch.manual_seed(0)
                net = build_generator(arch, preset, scale, args.channels).eval()
                params = sum(t.numel() for t in net.parameters())
                kflop = net.flops_per_output_pixel() / 1e3
                speed, timed_on = "-", "-"
                if scale in args.time_scales:
                    per_lr_px = kflop * 1e3 * scale**2
                    fit = int(math.sqrt(args.budget_gflop * 1e9 / per_lr_px))
                    size = max(16, min(args.size, fit))
                    speed = f"{_throughput(net, size, scale, args.repeats):.3f}"
                    timed_on = f"{size}x{size}"
                print(
                    f"| {arch} | {preset} | {scale} | {params / 1e6:.3f} M | "
                    f"{net.receptive_field} | {kflop:.1f} | {speed} | {timed_on} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
