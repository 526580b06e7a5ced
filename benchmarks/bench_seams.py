"""Seam error of tiled prediction: max |tiled - untiled| relative to the output range.

A real image is super-resolved once untiled (one forward pass) and then by ``predict`` with the
automatic halo (the model's receptive field) for several tile sizes; the error is the largest
absolute difference divided by the untiled output's range (goal < 1e-4 for convolutional
models). For comparison, the simple approach found in many scripts: tiles with a fixed 10-pixel
margin (reflection padding at the image border), run one at a time into an output held in
memory. Both use the same global normalisation, so differences come from tiling alone. The
simple approach's error is also given for the interior (farther than the receptive field from
the image border), where only its seams contribute; at the border its reflection padding
differs from the network's zero padding of an untiled run.

    python benchmarks/bench_seams.py [--image fluorescence_2d/BPAE_actin.tif] [--crop 512 768]
        [--tiles 64 128 256 512] [--scale 4] [--preset fast]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import real_image, srresnet, table

from napari_sisr.core.inference.predict import predict, prepare


def forward(net, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return net(torch.from_numpy(np.ascontiguousarray(x, np.float32))[None, None])[0, 0].numpy()


def simple_tiling(net, xn: np.ndarray, tile: int, margin: int, scale: int) -> np.ndarray:
    """Fixed margin, reflection padding, one tile at a time, whole output in memory."""
    h, w = xn.shape
    padded = np.pad(xn, margin, mode="reflect")
    out = np.zeros((h * scale, w * scale), np.float32)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            win = padded[y0 : y1 + 2 * margin, x0 : x1 + 2 * margin]
            y = forward(net, win)
            m = margin * scale
            out[y0 * scale : y1 * scale, x0 * scale : x1 * scale] = y[
                m : m + (y1 - y0) * scale, m : m + (x1 - x0) * scale
            ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default="fluorescence_2d/BPAE_actin.tif")
    ap.add_argument("--crop", type=int, nargs=2, default=[512, 768])
    ap.add_argument("--tiles", type=int, nargs="+", default=[64, 128, 256, 512])
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--margin", type=int, default=10, help="margin of the simple approach")
    args = ap.parse_args()

    img = real_image(args.image)[: args.crop[0], : args.crop[1]].astype(np.float32)
    net = srresnet(args.preset, args.scale)
    s = args.scale
    job = prepare(img, net, dtype="float32")
    lo, hi = (float(v[0]) for v in job.spec.stats)
    xn = (img - lo) / (hi - lo)
    t0 = time.perf_counter()
    ref = forward(net, xn) * (hi - lo) + lo
    t_ref = time.perf_counter() - t0
    rng = float(np.ptp(ref))
    print(
        f"image {args.image} crop {img.shape} -> {ref.shape}; srresnet/{args.preset} x{s}, "
        f"receptive field {net.receptive_field} LR px (auto halo); untiled {t_ref:.2f} s"
    )
    # interior: away from the image border by the receptive field, so only seams count there
    b = net.receptive_field * s
    inner = (slice(b, -b), slice(b, -b))
    rows = []
    for tile in args.tiles:
        t0 = time.perf_counter()
        tiled = predict(img, net, tile=tile, dtype="float32").compute()
        t_t = time.perf_counter() - t0
        t0 = time.perf_counter()
        simple = simple_tiling(net, xn, tile, args.margin, s) * (hi - lo) + lo
        t_s = time.perf_counter() - t0
        rows.append(
            {
                "tile": tile,
                "predict max": f"{np.abs(tiled - ref).max() / rng:.2e}",
                "predict s": f"{t_t:.2f}",
                f"simple({args.margin}px) max": f"{np.abs(simple - ref).max() / rng:.2e}",
                "simple interior max": f"{np.abs(simple - ref)[inner].max() / rng:.2e}",
                "simple interior mean": f"{np.abs(simple - ref)[inner].mean() / rng:.2e}",
                "simple s": f"{t_s:.2f}",
            }
        )
        print(table(rows[-1:], list(rows[-1])), flush=True)
    print("\nall tile sizes (errors: |tiled - untiled| / range of the untiled output):")
    print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
