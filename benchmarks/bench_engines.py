"""Inference engines on this machine: raw throughput, the pipeline's share of it, a gigapixel.

For each bundled model, in one run:

1. **raw engines**: one 256 x 256 LR tile (with the model's halo, as the pipeline reads it)
   through torch (eager, channels-last, and bf16 / fp16 where the CPU has them natively;
   ``torch.compile`` with ``--torch-compile``),
   ONNX Runtime and OpenVINO (fp32, and bf16 / int8 where available), best of ``--repeats``;
   seconds, Mpx/s of output, GFLOP/s and the share of this machine's measured fp32 matmul
   peak;
2. **pipeline**: ``napari_sisr.predict`` of a real 1024 x 1024 LR image with the defaults
   (engine auto), its Mpx/s and its ratio to the fastest fp32 raw engine;
3. **gigapixel**: a measured 64 Mpx (output) job to OME-Zarr, extrapolated to 1 Gpx: the
   real 8-bit image as stored (default tile, and the other of 256 / 512) and converted to
   float32;
4. **quality** of the low precisions: PSNR against fp32's output, and the PSNR change against
   the real HR image on the held-out images of ``bench_default_models.py``.

    python benchmarks/bench_engines.py [--models default-4x] [--repeats 3] [--skip-gigapixel]
                                       [--gigapixel-only] [--torch-compile]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, real_image, table  # noqa: E402


def matmul_peak(repeats: int) -> float:
    """GFLOP/s of a 2048 x 2048 fp32 matmul, the machine's practical peak."""
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    a @ b
    t = best_of(lambda: a @ b, repeats)
    return 2 * 2048**3 / t / 1e9


def raw_engines(
    name: str, repeats: int, tile: int = 256, compile_torch: bool = False
) -> list[dict]:
    from napari_sisr.core.inference.engines import (
        build_engine,
        installed_engines,
        native_precisions,
    )
    from napari_sisr.core.modelio import load_model

    net = load_model(name)
    s, rf = int(net.scale), int(net.receptive_field)
    window = tile + 2 * rf
    x = np.random.default_rng(0).random((1, 1, window, window), dtype=np.float32)
    flops = net.flops_per_output_pixel() * (window * s) ** 2
    out_px = (tile * s) ** 2  # what the pipeline keeps of the window
    candidates = [("torch", "fp32", False), ("torch", "fp32", True)]
    candidates += [("torch", p, True) for p in ("bf16", "fp16") if p in native_precisions("cpu")]
    for engine in ("onnxruntime", "openvino"):
        if engine in installed_engines():
            candidates.append((engine, "fp32", None))
    if "openvino" in installed_engines():
        candidates += [
            ("openvino", p, None) for p in ("bf16", "fp16") if p in native_precisions("cpu")
        ]
        try:
            import nncf  # noqa: F401

            candidates.append(("openvino", "int8", None))
        except ImportError:
            pass
    if compile_torch:  # torch.compile (inductor) of the channels-last fp32 network
        candidates.append(("torch.compile", "fp32", True))
    rows = []
    ref = None
    for engine, precision, cl in candidates:
        eng = build_engine(engine.split(".")[0], net, "cpu", precision, cl)
        t0 = time.perf_counter()
        if engine == "torch.compile":
            eng.net = torch.compile(eng.net)
        if precision == "int8":
            eng.calibrate([np.random.default_rng(i).random(x.shape, np.float32) for i in range(4)])
        y = eng(x)  # builds, exports, compiles
        first = time.perf_counter() - t0
        ref = y if ref is None else ref
        sec = best_of(lambda eng=eng: eng(x), repeats)
        diff = float(np.abs(y - ref).max() / max(np.ptp(ref), 1e-12))
        label = engine + (" channels-last" if cl else "")
        rows.append(
            {
                "model": name,
                "engine": label,
                "precision": precision,
                "s": round(sec, 3),
                "Mpx/s out": round(out_px / sec / 1e6, 2),
                "GFLOP/s": round(flops / sec / 1e9, 1),
                "max diff / range": f"{diff:.1e}",
                "first call s": round(first, 1),
                "_sec": sec,
            }
        )
    return rows


def pipeline(name: str, repeats: int, precision: str = "auto") -> dict:
    from napari_sisr import predict

    img = real_image("pairs/tirf_storm/cell2_storm_hr.jpg")[:1024, :1024].astype(np.float32)

    def job():
        return predict(img, name, precision=precision).compute()

    job()  # warm: export and compile (later jobs of a process reuse it; int8 calibrates anew)
    sec = best_of(job, repeats)
    from napari_sisr.core.inference.engines import pick_engine, pick_precision
    from napari_sisr.core.modelio import load_model

    s = int(load_model(name).scale)
    engine = pick_engine("auto", "auto")
    precision = pick_precision(precision, "auto", engine)
    return {"sec": sec, "mpx": img.size * s * s / sec / 1e6, "engine": engine,
            "precision": precision}  # fmt: skip


def gigapixel(name: str, dtype: str = "uint8", tile: int | None = None, precision="auto") -> dict:
    """A 64 Mpx output job to OME-Zarr (real image mosaic), extrapolated to 1 Gpx.

    ``dtype`` is the input's (and so the output's) dtype: ``uint8`` as the real image is stored,
    or ``float32``, whose compressed writes cost far more CPU than ``uint8``'s.
    """
    from napari_sisr import predict
    from napari_sisr.core.modelio import load_model

    s = int(load_model(name).scale)
    side = int(round(8000 / s))
    tile_img = real_image("pairs/tirf_storm/cell2_storm_hr.jpg").astype(dtype)
    reps = (-(-side // tile_img.shape[0]), -(-side // tile_img.shape[1]))
    img = np.tile(tile_img, reps)[:side, :side]
    opts = {} if tile is None else {"tile": tile}
    if precision != "auto":
        opts["precision"] = precision
    predict(img[:600, :600], name, **opts).compute()  # warm: export and compile the tile
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        predict(img, name, out=Path(tmp) / "big.ome.zarr", **opts)
        sec = time.perf_counter() - t0
    out_px = img.size * s * s
    return {"Mpx": out_px / 1e6, "sec": sec, "gigapixel_min": sec * 1e9 / out_px / 60}


def quality(name: str, precision: str, engine: str) -> dict:
    """PSNR change of a low precision against fp32, on the held-out benchmark images."""
    from _common import data_dir
    from bench_default_models import CONDITIONS, HELD_OUT

    from napari_sisr import DegradationParams, predict, simulate_lr
    from napari_sisr.core.io.images import read_image, to_gray
    from napari_sisr.core.metrics import psnr
    from napari_sisr.core.modelio import load_model

    s = int(load_model(name).scale)
    deltas, agree = [], []
    for rel in HELD_OUT:
        hr = to_gray(read_image(data_dir() / rel)).astype(np.float64)
        hr = hr[: hr.shape[0] // s * s, : hr.shape[1] // s * s]
        rng_hr = float(np.ptp(hr))
        for sigma, noise in CONDITIONS:
            p = DegradationParams(scale=s, sigma=sigma, noise_var=(noise * rng_hr) ** 2)
            lr = simulate_lr(hr, p, rng=np.random.default_rng(0)).astype(np.float32)
            ref = np.asarray(predict(lr, name, engine=engine, precision="fp32", dtype="float32"))
            low = np.asarray(predict(lr, name, engine=engine, precision=precision, dtype="float32"))
            deltas.append(psnr(low, hr, rng_hr) - psnr(ref, hr, rng_hr))
            agree.append(psnr(low, ref, rng_hr))
    return {"delta_db": float(np.mean(deltas)), "vs_fp32_db": float(np.mean(agree))}


def print_gigapixel(name: str) -> None:
    from napari_sisr.core.inference.config import DEFAULT_TILE

    other = 256 if DEFAULT_TILE != 256 else 512
    jobs = [("uint8", None, "auto"), ("uint8", other, "auto"), ("float32", None, "auto")]
    try:
        import nncf  # noqa: F401

        jobs.append(("uint8", None, "int8"))  # opt-in; quantised on the job's tiles first
    except ImportError:
        pass
    for dtype, tile, precision in jobs:
        g = gigapixel(name, dtype, tile, precision)
        print(
            f"gigapixel ({dtype} in and out, tile {tile or DEFAULT_TILE}, precision {precision}):"
            f" {g['Mpx']:.0f} Mpx out to OME-Zarr in {g['sec']:.0f} s -> "
            f"{g['gigapixel_min']:.1f} min per gigapixel"
        )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="default-4x,default-2x")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-gigapixel", action="store_true")
    ap.add_argument("--gigapixel-only", action="store_true", help="only the gigapixel jobs")
    ap.add_argument(
        "--torch-compile", action="store_true", help="also torch.compile (inductor; slow to build)"
    )
    args = ap.parse_args(argv)
    if args.gigapixel_only:
        for name in args.models.split(","):
            print(f"== {name}")
            print_gigapixel(name)
        return 0
    peak = matmul_peak(args.repeats)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; fp32 matmul peak "
          f"{peak:.0f} GFLOP/s")  # fmt: skip
    for name in args.models.split(","):
        rows = raw_engines(name, args.repeats, compile_torch=args.torch_compile)
        for r in rows:
            r["share of peak"] = f"{100 * r['GFLOP/s'] / peak:.0f} %"
        cols = ["engine", "precision", "s", "Mpx/s out", "GFLOP/s", "share of peak"]
        print(
            f"\n== {name}: one 256 x 256 LR tile (+ halo)\n"
            + table(rows, cols + ["max diff / range", "first call s"])
        )
        pipe = pipeline(name, args.repeats)
        same = [r for r in rows if r["precision"] == pipe["precision"]]
        fastest = min(same, key=lambda r: r["_sec"])
        ratio = pipe["mpx"] / fastest["Mpx/s out"]
        print(
            f"pipeline (napari_sisr.predict, defaults: engine {pipe['engine']}, precision "
            f"{pipe['precision']}) on a real 1024 x 1024 LR image: {pipe['mpx']:.2f} Mpx/s out, "
            f"{ratio:.2f} of the fastest {pipe['precision']} raw engine "
            f"({fastest['engine']}, {fastest['Mpx/s out']:.2f} Mpx/s)"
        )
        p32 = pipeline(name, args.repeats, "fp32")  # no precision may be slower than this
        print(f"pipeline at precision fp32: {p32['mpx']:.2f} Mpx/s out")
        int8 = [r for r in rows if r["precision"] == "int8"]
        if int8:  # opt-in: the pipeline quantises on the job's own tiles before it starts
            p8 = pipeline(name, args.repeats, "int8")
            print(
                f"pipeline at precision int8 (opt-in): {p8['mpx']:.2f} Mpx/s out, "
                f"{p8['mpx'] / int8[0]['Mpx/s out']:.2f} of the raw int8 engine, "
                f"{p8['mpx'] / pipe['mpx']:.2f} of the default pipeline, "
                f"{p8['mpx'] / p32['mpx']:.2f} of the fp32 pipeline"
            )
        for r in rows:
            if r["precision"] in ("bf16", "fp16", "int8") and r["engine"] in ("torch", "openvino"):
                q = quality(name, r["precision"], r["engine"])
                print(
                    f"{r['engine']} {r['precision']}: PSNR against the real HR "
                    f"{q['delta_db']:+.3f} dB vs fp32 (outputs agree to {q['vs_fp32_db']:.1f} dB)"
                )
        if not args.skip_gigapixel:
            print_gigapixel(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
