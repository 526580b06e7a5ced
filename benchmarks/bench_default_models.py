"""Bundled default models vs bicubic on real fluorescence images they were not trained on.

Each held-out image is degraded with the model's scale at several points of the range the
models were trained for (sigma 1.0-3.0 HR px, Gaussian noise 0.5-5 % of the image range),
super-resolved with ``napari_sisr.predict`` (tiled, as users run it) and compared with
bicubic upsampling of the same LR image. PSNR and SSIM use the HR image's range.

    python benchmarks/bench_default_models.py [--model default-4x] [--data ../shared/data]
    python benchmarks/bench_default_models.py --grid   # every sigma x noise pair (3 x 3)
    python benchmarks/bench_default_models.py --model aware-4x --grid --steer sigma

A degradation-aware model is told the simulation's own degradation (``--steer true``, the
default), estimates it (``auto``: what ``napari-sisr predict`` does with an image that states
no optics), or is told the PSF width and estimates the noise (``sigma``: an image whose
optics are known).

The HR references are real captures with their own noise (DSB2018 nuclei about 2 %, confocal
DAPI about 4 %, Tribolium about 1.4 % of the range, estimated by ``hr_noise``): PSNR against
them is capped near ``20 log10(1 / noise)`` whatever the method, which the table prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    background_departure_ratio,
    background_std_ratio,
    detail_ratio,
    sharpness_ratio,
)

from napari_sisr import DegradationParams, predict, simulate_lr
from napari_sisr.core.io.images import read_image, to_gray
from napari_sisr.core.metrics import psnr, ssim
from napari_sisr.core.modelio import load_model

#: Images never used to train the default models (see scripts/train_default_models.py).
HELD_OUT = [
    "fluorescence_2d/BPAE_actin.tif",
    "fluorescence_2d/nuclei_dsb2018.tif",
    "fluorescence_2d/nuclei_dapi_confocal.png",
    "lightsheet/tribolium_mip.tif",
]
#: (sigma in HR px, noise std as a fraction of the HR range)
CONDITIONS = [(1.0, 0.005), (2.0, 0.02), (3.0, 0.05)]
SIGMAS, NOISES = (1.0, 2.0, 3.0), (0.005, 0.02, 0.05)


def hr_noise(hr: np.ndarray) -> float:
    """Robust noise std of an image as a fraction of its range (MAD of a Laplacian residual)."""
    d = (
        4 * hr[1:-1, 1:-1] - hr[:-2, 1:-1] - hr[2:, 1:-1] - hr[1:-1, :-2] - hr[1:-1, 2:]
    ) / np.sqrt(20.0)
    sd = 1.4826 * np.median(np.abs(d - np.median(d)))
    return float(sd / (hr.max() - hr.min()))


def held_out_hr(path: Path, scale: int) -> np.ndarray:
    """A held-out image as the grid uses it: grey, float, cropped to a multiple of ``scale``."""
    hr = to_gray(read_image(path)).astype(np.float64)
    return hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]


def degrade(
    hr: np.ndarray, scale: int, sigma: float, frac: float, seed: int
) -> tuple[np.ndarray, DegradationParams]:
    """The LR capture of one grid condition (noise std ``frac`` of the HR's 0.1-99.9
    percentile span) and the parameters that made it."""
    span = float(np.percentile(hr, 99.9) - np.percentile(hr, 0.1))
    p = DegradationParams(scale=scale, sigma=sigma, noise_var=(frac * span) ** 2)
    return simulate_lr(hr, p, rng=np.random.default_rng(seed)), p


def bicubic(lr: np.ndarray, scale: int) -> np.ndarray:
    t = torch.as_tensor(lr, dtype=torch.float32)[None, None]
    up = torch.nn.functional.interpolate(t, scale_factor=scale, mode="bicubic", align_corners=False)
    return up[0, 0].numpy()


def evaluate(
    model_name: str, data: Path, seed: int = 0, conditions=CONDITIONS, steer: str = "true"
) -> list[dict]:
    """Rows of PSNR / SSIM per image and condition. A degradation-aware model is told the
    true degradation (``steer="true"``: the simulation's own parameters, in the LR's raw
    units, as a fit would give them), left to estimate it (``"auto"``), or told the true PSF
    width only and left to estimate the noise (``"sigma"``: what the optics or the file's
    metadata give a user)."""
    model = load_model(model_name) if isinstance(model_name, str) else model_name
    aware = bool(getattr(model, "conditioned", False))
    s = int(model.scale)
    rows = []
    for k, rel in enumerate(HELD_OUT):
        hr = held_out_hr(data / rel, s)
        for sigma, frac in conditions:
            lr, p = degrade(hr, s, sigma, frac, seed + k)
            kw = {}
            if aware:
                kw["degradation"] = {"true": p, "auto": "auto", "sigma": {"sigma": sigma}}[steer]
            sr = np.asarray(predict(lr, model, dtype="float32", **kw))
            bi = bicubic(lr, s)
            dr = float(hr.max() - hr.min())
            rows.append(
                {
                    "image": Path(rel).name,
                    "sigma": sigma,
                    "noise": frac,
                    "psnr_sr": psnr(sr, hr, dr),
                    "psnr_bicubic": psnr(bi, hr, dr),
                    "ssim_sr": ssim(sr, hr, dr),
                    "ssim_bicubic": ssim(bi, hr, dr),
                    "hr_noise": hr_noise(hr),
                    "bg_std_ratio": background_std_ratio(sr, bi, hr, s),
                    # where the LR capture is empty too: the HR image's own std there (a
                    # light-sheet projection's dim out-of-focus haze is not empty), the
                    # output's, and the output's departure from the HR image there
                    "bg_both_hr": background_std_ratio(hr, bi, hr, s, both=True),
                    "bg_both_ratio": background_std_ratio(sr, bi, hr, s, both=True),
                    "bg_both_departure": background_departure_ratio(sr, bi, hr, s),
                    "detail_sr": detail_ratio(sr, hr, s),
                    "detail_bicubic": detail_ratio(bi, hr, s),
                    "sharpness_sr": sharpness_ratio(sr, hr, s),
                    "sharpness_bicubic": sharpness_ratio(bi, hr, s),
                }
            )
    return rows


def gain(rows: list[dict], metric: str = "psnr") -> float:
    """Mean gain of the model over bicubic (``metric``: ``"psnr"`` in dB or ``"ssim"``)."""
    return float(np.mean([r[f"{metric}_sr"] - r[f"{metric}_bicubic"] for r in rows]))


def rows_table(rows: list[dict]) -> list[str]:
    """Markdown table, one line per image and condition."""
    lines = [
        "| image | sigma (HR px) | noise | PSNR model | PSNR bicubic | gain | SSIM model | "
        "SSIM bicubic |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['image']} | {r['sigma']:.1f} | {100 * r['noise']:.1f} % | {r['psnr_sr']:.2f} | "
            f"{r['psnr_bicubic']:.2f} | {r['psnr_sr'] - r['psnr_bicubic']:+.2f} | "
            f"{r['ssim_sr']:.4f} | {r['ssim_bicubic']:.4f} |"
        )
    return lines


def grid_table(rows: list[dict]) -> list[str]:
    """Markdown table of the mean PSNR gain over the images: sigma in rows, noise in columns."""
    sigmas = sorted({r["sigma"] for r in rows})
    noises = sorted({r["noise"] for r in rows})
    lines = [
        "| sigma (HR px) | " + " | ".join(f"noise {100 * n:.1f} %" for n in noises) + " |",
        "|---" * (len(noises) + 1) + "|",
    ]
    for sg in sigmas:
        cells = [gain([r for r in rows if r["sigma"] == sg and r["noise"] == n]) for n in noises]
        lines.append(f"| {sg:.1f} | " + " | ".join(f"{c:+.2f}" for c in cells) + " |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", nargs="+", default=["default-4x", "default-2x"])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--grid", action="store_true", help="all 3 x 3 sigma / noise pairs")
    ap.add_argument(
        "--steer",
        choices=["true", "auto", "sigma"],
        default="true",
        help="degradation-aware models: told the true degradation, estimating it, or told the "
        "true PSF width and estimating the noise",
    )
    args = ap.parse_args()
    torch.set_num_threads(2)
    conditions = [(s, n) for s in SIGMAS for n in NOISES] if args.grid else CONDITIONS
    for name in args.model:
        rows = evaluate(name, Path(args.data), conditions=conditions, steer=args.steer)
        print(f"\n## {name}: held-out real images, PSNR (dB) / SSIM vs HR\n")
        print("\n".join(rows_table(rows)))
        print(
            f"\nmean PSNR gain over bicubic: {gain(rows):+.2f} dB; "
            f"mean SSIM gain: {gain(rows, 'ssim'):+.4f}"
        )
        bg = [r["bg_std_ratio"] for r in rows]
        print(
            f"output std on the HR images' empty background relative to bicubic's: mean "
            f"{np.mean(bg):.2f}, highest {np.max(bg):.2f} (above 1: structure invented there)"
        )
        both = {k: [r[k] for r in rows] for k in ("bg_both_hr", "bg_both_ratio")}
        dep = [r["bg_both_departure"] for r in rows]
        print(
            "where the LR capture is empty too, std relative to bicubic's: HR image "
            f"{np.mean(both['bg_both_hr']):.2f} (highest {np.max(both['bg_both_hr']):.2f}), "
            f"output {np.mean(both['bg_both_ratio']):.2f} (highest "
            f"{np.max(both['bg_both_ratio']):.2f}, above 1 on "
            f"{sum(v > 1 for v in both['bg_both_ratio'])} of {len(rows)}); the output's "
            f"departure from the HR image there {np.mean(dep):.2f} of bicubic's (highest "
            f"{np.max(dep):.2f})"
        )
        print(
            "just beyond the LR's Nyquist frequency, relative to the HR image: fine detail "
            f"restored (agreeing with the HR) {np.mean([r['detail_sr'] for r in rows]):.3f} "
            f"(bicubic {np.mean([r['detail_bicubic'] for r in rows]):.3f}), power "
            f"{np.mean([r['sharpness_sr'] for r in rows]):.3f} "
            f"(bicubic {np.mean([r['sharpness_bicubic'] for r in rows]):.3f})"
        )
        below = [r for r in rows if r["psnr_sr"] < r["psnr_bicubic"]]
        print(
            f"image-condition pairs below bicubic: {len(below)} of {len(rows)}"
            + "".join(
                f"; {r['image']} sigma {r['sigma']:g} noise {100 * r['noise']:g} % "
                f"({r['psnr_sr'] - r['psnr_bicubic']:+.2f} dB)"
                for r in below
            )
        )
        print("\n| image | HR noise (% of range) | PSNR cap (dB) | mean gain (dB) |")
        print("|---|---|---|---|")
        for img in dict.fromkeys(r["image"] for r in rows):
            mine = [r for r in rows if r["image"] == img]
            noise = mine[0]["hr_noise"]
            print(
                f"| {img} | {100 * noise:.2f} | {-20 * np.log10(noise):.1f} | {gain(mine):+.2f} |"
            )
        if args.grid:
            print("\nmean gain (dB) by condition, rows sigma (HR px), columns noise:\n")
            print("\n".join(grid_table(rows)))
            diagonal = [r for r in rows if (r["sigma"], r["noise"]) in CONDITIONS]
            print(f"\nthe three default conditions alone: {gain(diagonal):+.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
