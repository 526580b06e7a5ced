"""Adaptation time on this machine for captures of 256 x 256 and 512 x 512 px.

A central crop of a real widefield capture (BPAE actin, the package's sample) of each size is
adapted with the defaults (300 steps of 8 patches of 48 px, ``always`` so that it trains), from
the bundled ``aware-4x`` with a PSF of 2 HR px; the wall time of the run (steps, validations,
export and the held-out evidence) is printed, with the CPU it ran on.

    python benchmarks/bench_adapt_time.py [--sizes 256,512] [--results FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time

import numpy as np


def cpu_flags() -> str:
    try:
        text = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return platform.processor()
    flags = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return "AVX-512 bf16" if "avx512_bf16" in flags else ("AVX2" if "avx2" in flags else "other")


def main(argv=None) -> int:
    from napari_sisr import DegradationParams, adapt
    from napari_sisr.sample_data import bpae_actin_hr

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--results")
    args = ap.parse_args(argv)
    image = np.asarray(bpae_actin_hr(), np.float32)
    psf = DegradationParams(scale=4, sigma=2.0, source="fit")
    for side in (int(v) for v in args.sizes.split(",")):
        y0, x0 = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        crop = image[y0 : y0 + side, x0 : x0 + side]
        if crop.shape != (side, side):
            print(f"{side}: the sample is smaller", file=sys.stderr)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run = adapt(images=[crop], degradation=psf, out=f"{tmp}/run", always=True)
            secs = time.perf_counter() - t0
        rec = {"side": side, "seconds": secs, "steps": run.steps, "cpu": cpu_flags()}
        print(json.dumps(rec), flush=True)
        if args.results:
            with open(args.results, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
