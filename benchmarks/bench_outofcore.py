"""Out-of-core: a gigapixel result streamed to OME-Zarr with bounded memory.

The input is a lazy dask array that tiles a real 512 x 512 image (mirrored copies, never held
whole) into an 8192 x 8192 LR mosaic; a tiny convolutional x4 model (3x3 conv + pixel shuffle)
turns it into 32768 x 32768 = 1.07 Gpx written to OME-Zarr with its pyramid. Each job runs in a
fresh subprocess; its peak resident memory (``ru_maxrss``) is reported, together with the peak
of a job with a 10x smaller output, which should be nearly the same (memory bounded by tile
size and workers, not image size). Goal: peak < 2 GB, the two peaks within 10 %.

    python benchmarks/bench_outofcore.py [--side 8192] [--tile 512] [--keep]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch, dask.array as da
from torch import nn
sys.path.insert(0, {bench!r})
from _common import real_image
from napari_sisr.core.inference.predict import iter_predict
from napari_sisr.core.progress import run_to_end
from napari_sisr.core.io.images import open_lazy

class TinySR(nn.Module):
    scale, in_channels, receptive_field = 4, 1, 1
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 16, 3, padding=1)
        self.shuffle = nn.PixelShuffle(4)
    def forward(self, x):
        return self.shuffle(self.conv(x))

tile_img = real_image("fluorescence_2d/nuclei_dsb2018.tif")
side, tile = {side}, {tile}
def block(block_info=None):
    iy, ix = block_info[None]["chunk-location"]
    b = tile_img[::-1] if iy % 2 else tile_img
    return np.ascontiguousarray(b[:, ::-1] if ix % 2 else b)
n = side // 512
meta = np.empty((0, 0), tile_img.dtype)
lr = da.map_blocks(block, chunks=((512,) * n, (512,) * n), dtype=tile_img.dtype, meta=meta)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
arr = run_to_end(iter_predict(lr, TinySR(), tile=tile, out={out!r}, pixel_size=0.5))
secs = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
check = open_lazy({out!r})
print(json.dumps(dict(seconds=secs, peak_kb=peak, base_kb=base, shape=list(arr.shape),
                      dtype=str(arr.dtype), readback=list(check.shape))))
"""


def run_job(side: int, tile: int, out: Path) -> dict:
    bench = str(Path(__file__).resolve().parent)
    code = CHILD.format(bench=bench, side=side, tile=tile, out=str(out))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"job failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["disk_mb"] = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=8192, help="LR side of the big job (x512)")
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--keep", action="store_true", help="keep the outputs")
    args = ap.parse_args()
    small_side = int(round(args.side / math.sqrt(10) / 512)) * 512 or 512
    tmp = Path(tempfile.mkdtemp(prefix="sisr-ooc-"))
    rows = []
    try:
        for side in (small_side, args.side):
            t0 = time.perf_counter()
            r = run_job(side, args.tile, tmp / f"out{side}.zarr")
            gpx = r["shape"][0] * r["shape"][1] / 1e9
            rows.append((side, gpx, r))
            print(
                f"LR {side}x{side} -> {r['shape'][0]}x{r['shape'][1]} {r['dtype']} = {gpx:.3f} "
                f"Gpx: {r['seconds']:.1f} s ({gpx * 1e3 / r['seconds']:.1f} Mpx/s), peak RSS "
                f"{r['peak_kb'] / 2**20:.3f} GiB (after imports {r['base_kb'] / 2**20:.3f} GiB), "
                f"on disk {r['disk_mb']:.0f} MiB, wall {time.perf_counter() - t0:.1f} s",
                flush=True,
            )
        (s_side, s_gpx, s), (b_side, b_gpx, b) = rows
        print(
            f"\noutput ratio {b_gpx / s_gpx:.1f}x; peak RSS big/small = "
            f"{b['peak_kb'] / s['peak_kb']:.3f}; big job peak "
            f"{b['peak_kb'] / 2**20:.3f} GiB (< 2 GB: {b['peak_kb'] * 1024 < 2e9})"
        )
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"outputs kept in {tmp}")


if __name__ == "__main__":
    main()
