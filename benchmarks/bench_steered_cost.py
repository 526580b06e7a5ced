"""What steering costs: a degradation-aware model against the plain model of the same trunk.

Both run the same job through ``napari_sisr.predict`` (same image, tile and engine),
alternately, several times; the table gives the median seconds and their ratio. The aware
model runs three ways: told a typed degradation, told a fit, and automatic (its noise
estimated from the image, which is part of the job's cost). Without ``--aware`` the aware model
is built from the plain one (same weights, modulation at zero: the cost is the same whatever
the weights).

    python benchmarks/bench_steered_cost.py [--plain default-4x] [--aware aware-4x]
        [--size 1024] [--engine auto] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _aware_twin(plain_name: str, folder: Path) -> str:
    """A degradation-aware model with the plain model's trunk (saved in ``folder``)."""
    from napari_sisr.core.archs import build_generator
    from napari_sisr.core.modelio import load_model, save_model

    plain = load_model(plain_name)
    net = build_generator("srresnet_da", plain.preset, plain.scale, 1, **plain.arch_kwargs)
    state = {**net.state_dict(), **plain.state_dict()}
    net.load_state_dict(state)
    return str(save_model(folder / "aware", net, {"normalization": plain.meta["normalization"]}))


def main(argv=None) -> int:
    from napari_sisr import DegradationParams, predict
    from napari_sisr.core.modelio import read_model_meta

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import data_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plain", default="default-4x")
    ap.add_argument("--aware", help="degradation-aware model (default: built from --plain)")
    ap.add_argument("--size", type=int, default=1024, help="LR image side (px)")
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    import tifffile

    img = tifffile.imread(data_dir() / "fluorescence_2d" / "BPAE_actin.tif").astype(np.float32)
    reps = -(-args.size // min(img.shape))
    img = np.tile(img, (reps, reps))[: args.size, : args.size]
    with tempfile.TemporaryDirectory() as tmp:
        aware = args.aware or _aware_twin(args.plain, Path(tmp))
        s = int(read_model_meta(aware)["scale"])
        fit = DegradationParams(scale=s, sigma=0.5 * s, noise_var=float(np.std(img) * 0.02) ** 2)
        jobs = {
            "plain": (args.plain, {}),
            "aware, typed": (aware, {"degradation": {"sigma": 0.5 * s, "noise_std": 0.02}}),
            "aware, fit": (aware, {"degradation": fit}),
            "aware, automatic": (aware, {}),
        }
        times: dict[str, list[float]] = {k: [] for k in jobs}
        for model, kw in jobs.values():  # warm-up: graphs compiled and cached
            np.asarray(predict(img, model, engine=args.engine, precision="fp32", **kw))
        for _ in range(args.repeats):
            for name, (model, kw) in jobs.items():
                t0 = time.perf_counter()
                np.asarray(predict(img, model, engine=args.engine, precision="fp32", **kw))
                times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["plain"])
    print(f"{args.size} x {args.size} px, x{s}, engine {args.engine}, fp32, {args.repeats} runs")
    print("\n| job | median s | / plain |\n|---|---:|---:|")
    for name, t in times.items():
        m = statistics.median(t)
        print(f"| {name} | {m:.2f} | {m / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
