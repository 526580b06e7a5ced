"""Throughput of tiled prediction relative to one untiled forward pass of the same model.

The untiled reference is one ``torch.inference_mode`` forward pass of the whole (normalised)
image with torch's default threads. The tiled runs go through the package: ``iter_predict``
(the engine's own local runner: dask threads x torch threads = cores) and, for comparison, the
lazy ``predict(...)`` array computed by dask's default threaded scheduler. Ratio = tiled output
Mpx/s / untiled output Mpx/s, measured in the same run with interleaved repeats (best of N:
the machine is shared). The ratio of CPU times (all threads of the process) is printed too: it
is far less sensitive to other users' load than wall time. Goal: >= 0.85 at the default tile
size.

The image is a real 1024 x 1024 crop (large enough that tiles of 512 are really tiles, small
enough that the untiled pass fits in memory: about 5 GB at x4).

    python benchmarks/bench_efficiency.py [--image pairs/tirf_storm/cell2_storm_hr.jpg]
        [--crop 1024] [--preset fast] [--scale 4] [--tiles 256 384 512] [--workers 0]
        [--repeats 3]   (--workers 0: the engine's default)
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from _common import real_image, srresnet, table

from napari_sisr.core.inference.predict import DEFAULT_TILE, iter_predict, predict, prepare
from napari_sisr.core.progress import run_to_end


def timed(fn) -> tuple[float, float]:
    """Wall time and CPU time (all threads of this process) of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def configs(args) -> list[tuple[int, int | None]]:
    return [(t, w or None) for t in args.tiles for w in args.workers]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default="pairs/tirf_storm/cell2_storm_hr.jpg")
    ap.add_argument("--crop", type=int, default=1024)
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--tiles", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    img = real_image(args.image)
    if img.ndim == 3:
        img = img[..., 0] if img.shape[-1] in (3, 4) else img[0]
    c = args.crop
    y0, x0 = max(0, (img.shape[0] - c) // 2), max(0, (img.shape[1] - c) // 2)
    img = np.ascontiguousarray(img[y0 : y0 + c, x0 : x0 + c])
    net = srresnet(args.preset, args.scale)
    s = args.scale
    out_mpx = img.shape[0] * img.shape[1] * s * s / 1e6
    job = prepare(img, net, tile=DEFAULT_TILE)
    lo, hi = job.spec.stats
    x = torch.from_numpy(((img - lo[0]) / (hi[0] - lo[0])).astype(np.float32))[None, None]

    def untiled():
        with torch.inference_mode():
            net(x)

    print(
        f"image {args.image} {img.shape} -> x{s} = {out_mpx:.2f} Mpx; model srresnet/"
        f"{args.preset}, receptive field {net.receptive_field} LR px; cores {os.cpu_count()}, "
        f"torch threads {torch.get_num_threads()}"
    )
    untiled()  # warm-up
    rows = []
    for tile, workers in configs(args):
        wall_u, wall_t, cpu_u, cpu_t = [], [], [], []
        for _ in range(args.repeats):  # interleaved: both see the same machine load
            w, c = timed(untiled)
            wall_u.append(w), cpu_u.append(c)
            w, c = timed(
                lambda t=tile, n=workers: run_to_end(iter_predict(img, net, tile=t, num_workers=n))
            )
            wall_t.append(w), cpu_t.append(c)
        rows.append(
            {
                "tile": tile,
                "workers": workers or "default",
                "untiled s": f"{min(wall_u):.2f}",
                "tiled s": f"{min(wall_t):.2f}",
                "untiled Mpx/s": f"{out_mpx / min(wall_u):.3f}",
                "tiled Mpx/s": f"{out_mpx / min(wall_t):.3f}",
                "ratio (wall)": f"{min(wall_u) / min(wall_t):.3f}",
                "ratio (CPU time)": f"{min(cpu_u) / min(cpu_t):.3f}",
            }
        )
        print(table(rows[-1:], list(rows[-1])), flush=True)
    lazy_w, lazy_c, ref_w, ref_c = [], [], [], []
    for _ in range(args.repeats):
        w, c = timed(untiled)
        ref_w.append(w), ref_c.append(c)
        w, c = timed(lambda: predict(img, net).compute())
        lazy_w.append(w), lazy_c.append(c)
    print("\nall runs (iter_predict, the engine's local runner):")
    print(table(rows, list(rows[0])))
    print(
        f"\nlazy predict(...).compute(), dask's default threaded scheduler, tile {DEFAULT_TILE}: "
        f"{min(lazy_w):.2f} s vs untiled {min(ref_w):.2f} s: ratio (wall) "
        f"{min(ref_w) / min(lazy_w):.3f}, ratio (CPU time) {min(ref_c) / min(lazy_c):.3f}"
    )
    print(f"default tile: {DEFAULT_TILE}")


if __name__ == "__main__":
    main()
