"""Can a degradation-aware model's own outputs pick the PSF width that the LR image hides?

Automatic steering reads the PSF width from the LR image with a learned estimator; on the
held-out grid of ``bench_default_models.py`` that costs ``aware-2x`` about 0.7 dB against
being told the truth. This benchmark tries the classic alternative of regularisation theory:
run the model over a sweep of told widths (0 to the top of its range) and choose one from the
outputs alone, with no HR image:

- *discrepancy*: the largest width whose output, blurred and sampled by that width, stays
  within ``c`` times the LR image's noise std of the LR image (Morozov's principle);
- *smoothness knee*: the largest width whose output's mean absolute second difference stays
  within ``1 + t`` of the least over the sweep (past it the model starts to ring).

Each rule's parameter is chosen on *tuning* images (planes of the z-stack and the time-lapses
that no bundled model or estimator was trained or validated on, degraded on the same sigma x
noise grid) and then scored on the four held-out images, beside the learned estimator and
the truth. The noise is estimated from each LR image, as automatic steering does.

    python benchmarks/bench_sigma_selection.py [--model aware-2x]
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_dir  # noqa: E402
from bench_default_models import (  # noqa: E402
    HELD_OUT,
    NOISES,
    SIGMAS,
    bicubic,
    degrade,
    held_out_hr,
)

from napari_sisr import DegradationParams, predict, simulate_lr  # noqa: E402
from napari_sisr.core.degradation.blur_estimate import estimate_sigma  # noqa: E402
from napari_sisr.core.degradation.noiselevel import estimate_noise  # noqa: E402
from napari_sisr.core.io.images import read_image, to_gray  # noqa: E402
from napari_sisr.core.metrics import psnr  # noqa: E402
from napari_sisr.core.modelio import load_model  # noqa: E402

#: Planes no bundled model or estimator saw (their training planes are 20, 40, 60, 80 of the
#: z-stack, 0, 16, 32, 47 of the migration time-lapse and 0-2, 4 of the membrane one).
TUNING = [
    ("stack_3d/arabidopsis_embryo_zyx.tif", 30),
    ("stack_3d/arabidopsis_embryo_zyx.tif", 50),
    ("stack_3d/arabidopsis_embryo_zyx.tif", 70),
    ("timelapse/cancer_cell_migration_tyx.tif", 8),
    ("timelapse/cancer_cell_migration_tyx.tif", 24),
    ("timelapse/cancer_cell_migration_tyx.tif", 40),
    ("timelapse/membrane_tyx.tif", 3),
]
DISCREPANCY = (0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 1.0)
KNEE = (0.05, 0.1, 0.2, 0.3, 0.5)


def second_difference(y: np.ndarray) -> float:
    return float(np.mean(np.abs(np.diff(y, 2, axis=0))) + np.mean(np.abs(np.diff(y, 2, axis=1))))


def sweep(model, hr: np.ndarray, sigma: float, frac: float, seed: int, widths) -> dict:
    """One grid condition: the estimator's width and, per told width, the output's PSNR,
    its discrepancy (relative to the noise std) and its second difference (relative to
    the LR image's span)."""
    s = int(model.scale)
    lr, _ = degrade(hr, s, sigma, frac, seed)
    noise_var, _ = estimate_noise(lr)
    lo, hi = np.percentile(lr, [0.1, 99.9])
    dr = float(hr.max() - hr.min())
    rows = []
    for w in widths:
        told = DegradationParams(scale=s, sigma=float(w), noise_var=noise_var)
        y = np.asarray(predict(lr, model, dtype="float32", degradation=told), dtype=np.float64)
        again = simulate_lr(y, DegradationParams(scale=s, sigma=float(w), noise_var=0.0))
        m = 8  # the border, where the blur meets the image's edge
        res = (again - lr)[m:-m, m:-m]
        rows.append(
            (
                psnr(y, hr, dr),
                float(np.sqrt(np.mean(res**2) / noise_var)),
                second_difference(y) / (hi - lo),
            )
        )
    psnrs, disc, lap = np.asarray(rows).T
    top = float(widths[-1])
    return {
        "sigma": sigma,
        "estimate": float(np.clip(estimate_sigma(lr, s), 0.0, top)),
        "widths": np.asarray(widths, dtype=float),
        "psnr": psnrs,
        "discrepancy": disc,
        "lap": lap,
        "bicubic": psnr(bicubic(lr, s), hr, dr),
    }


def discrepancy_rule(case: dict, c: float) -> float:
    ok = case["widths"][case["discrepancy"] <= c]
    return float(ok.max()) if ok.size else 0.0


def knee_rule(case: dict, t: float) -> float:
    lap = case["lap"]
    return float(case["widths"][lap <= lap.min() * (1 + t)].max())


def gains(cases: list[dict], choose) -> tuple[float, int]:
    """Mean PSNR gain over bicubic with the width each case's rule chooses (the sweep's
    PSNR interpolated between its widths), and how many cases fall below bicubic."""
    g = [float(np.interp(choose(c), c["widths"], c["psnr"])) - c["bicubic"] for c in cases]
    return float(np.mean(g)), sum(v < 0 for v in g)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="aware-2x")
    args = ap.parse_args(argv)
    data = data_dir()
    model = load_model(args.model)
    s = int(model.scale)
    top = float(model.meta["degradation"]["sigma"][1])
    default = float((model.meta.get("steering") or {}).get("sigma", top / 2))
    widths = np.round(np.arange(0.0, top + 1e-9, 0.25 * s / 2), 3)

    def cases(images) -> list[dict]:
        out = []
        for hr, seed in images:
            for sigma in SIGMAS:
                for frac in NOISES:
                    out.append(sweep(model, hr, sigma, frac, seed, widths))
                    print(".", end="", file=sys.stderr, flush=True)
        return out

    def plane(rel: str, k: int) -> np.ndarray:
        a = to_gray(read_image(data / rel)[k]).astype(np.float64)
        return a[: a.shape[0] // s * s, : a.shape[1] // s * s]

    planes = [(plane(rel, k), 100 + i) for i, (rel, k) in enumerate(TUNING)]
    # the noise estimate needs an LR image of 32 px or more: the z-stack's planes are too
    # small for x4
    planes = [(hr, seed) for hr, seed in planes if min(hr.shape) >= 32 * s]
    tuning = cases(planes)
    held = cases([(held_out_hr(data / rel, s), i) for i, rel in enumerate(HELD_OUT)])
    print(file=sys.stderr)

    def family(rule, values) -> list[tuple[float, float, float]]:
        """(parameter, tuning gain, held-out gain) for each parameter of a rule."""
        return [
            (v, gains(tuning, partial(rule, v))[0], gains(held, partial(rule, v))[0])
            for v in values
        ]

    disc = family(lambda c, x: discrepancy_rule(x, c), DISCREPANCY)
    knee = family(lambda t, x: knee_rule(x, t), KNEE)
    best_c = max(disc, key=lambda r: r[1])[0]
    best_t = max(knee, key=lambda r: r[1])[0]
    rules = [
        ("the true width", "", lambda x: x["sigma"]),
        ("the model card's default", f"{default:g} HR px", lambda x: default),
        ("learned estimator", "", lambda x: x["estimate"]),
        ("discrepancy", f"c = {best_c:g}", lambda x: discrepancy_rule(x, best_c)),
        ("smoothness knee", f"t = {best_t:g}", lambda x: knee_rule(x, best_t)),
    ]
    print(f"{args.model}: PSNR gain over bicubic (dB) with the PSF width each way chooses")
    print(f"(tuning: {len(tuning)} cases of {len(planes)} planes; held out: {len(held)} cases)\n")
    print(
        "| width from | parameter (chosen on tuning) | tuning | held out | held out below bicubic |"
    )
    print("|---|---|---:|---:|---:|")
    for name, param, choose in rules:
        t_gain, _ = gains(tuning, choose)
        h_gain, below = gains(held, choose)
        print(f"| {name} | {param} | {t_gain:+.2f} | {h_gain:+.2f} | {below} |")
    print("\nevery parameter, tuning / held out (the best on held out is not a fair choice):")
    for name, rows in (("discrepancy c", disc), ("smoothness knee t", knee)):
        print(f"  {name}: " + ", ".join(f"{v:g}: {a:+.2f} / {b:+.2f}" for v, a, b in rows))
    print("\ntold the true width off by d HR px (kept >= 0), held out (below bicubic):")
    for d in (-1.0, -0.5, -0.25, 0.25, 0.5, 1.0):
        d *= s / 2
        h_gain, below = gains(held, lambda x, d=d: max(0.0, x["sigma"] + d))
        print(f"  {d:+g}: {h_gain:+.2f} ({below})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
