"""Two variants of the "calibrated once" route, measured before either became a default.

The calibrated route steers the degradation-aware model with a fit made once on another field
of the same microscope (here: the other half of each real pair). Two variants that need no HR
image of the field itself:

- **refined**: the model's output pushed towards reproducing the capture by Richardson-Lucy
  iterations through the forward model (the fitted PSF, the block mean, a gain and offset
  fitted between the output and the capture), started from the output
  (:mod:`napari_sisr.core.inference.refine`); the iteration count is chosen on the
  calibration half (its HR image), as the Richardson-Lucy baseline's is.
- **own noise**: the fit's PSF, but the noise estimated from the capture itself (a capture's
  noise changes with its exposure, its PSF does not).

Each half of each pair is scored against its HR image beside bicubic, bicubic + RL (the
iteration count chosen on the calibration half) and the model told the fit (PSF and noise).

    python benchmarks/bench_calibrated_variants.py --results RESULTS.jsonl [--table-only]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_real_pairs import SETS, aware_result, halves, load_pair, read_results  # noqa: E402

#: Pairs without a bundled aware model at their scale (8x) are left out.
PAIRS = [p for p in SETS if p not in ("caco2_8x", "storm")]
ROUTES = ("bicubic + RL", "aware, told the fit", "refined", "own noise")


def run_half(name, lr_a, hr_a, lr_b, hr_b, s) -> dict:
    from napari_sisr import fit_degradation
    from napari_sisr.core.evaluation.scoring import (
        bicubic_upsample,
        choose_rl_iterations,
        richardson_lucy,
        rl_psf,
        score_outputs,
    )
    from napari_sisr.core.inference.refine import choose_refinement, refine_plane

    fit = fit_degradation(hr_a, lr_a, s, noise="residual")
    model = f"aware-{s}x"

    # the calibration half: the refinement's iterations chosen there (its HR image)
    n_refine, _ = choose_refinement(aware_result(lr_a, model, fit), lr_a, hr_a, s, fit.sigma)
    n_rl = choose_rl_iterations(lr_a, hr_a, s, fit.sigma)
    bic = bicubic_upsample(lr_b, s)
    aware = aware_result(lr_b, model, fit)
    outputs = {
        "bicubic": bic,
        "bicubic + RL": richardson_lucy(bic, rl_psf(fit.sigma, s), n_rl),
        "aware, told the fit": aware,
        "refined": refine_plane(aware, lr_b, s, fit.sigma, n_refine),
        "own noise": aware_result(lr_b, model, {"sigma": fit.sigma}),
    }
    scored = score_outputs(outputs, hr_b, s).scores
    return {
        "pair": name,
        "scale": s,
        "fit_sigma": fit.sigma,
        "rl_iterations": n_rl,
        "refine_iterations": n_refine,
        "scores": {m: [v.psnr, v.ssim] for m, v in scored.items()},
    }


def tables(records: list[dict]) -> str:
    """Mean gain over bicubic per pair (dB; SSIM beside), and where each variant stands
    against the model told the fit."""
    lines = [
        "| pair | " + " | ".join(ROUTES) + " | refinement iterations |",
        "|---|" + "---:|" * len(ROUTES) + "---|",
    ]
    per_pair: dict[str, dict[str, float]] = {}
    for pair in dict.fromkeys(r["pair"] for r in records):
        rows = [r for r in records if r["pair"] == pair]
        gain = {
            m: float(np.mean([r["scores"][m][0] - r["scores"]["bicubic"][0] for r in rows]))
            for m in ROUTES
        }
        ssim = {m: float(np.mean([r["scores"][m][1] for r in rows])) for m in ROUTES}
        per_pair[pair] = gain
        cells = " | ".join(f"{gain[m]:+.2f} ({ssim[m]:.3f})" for m in ROUTES)
        iters = ", ".join(str(r["refine_iterations"]) for r in rows)
        lines.append(f"| {pair} | {cells} | {iters} |")
    out = ["\n".join(lines), ""]
    base = "aware, told the fit"
    for m in ("refined", "own noise"):
        diff = {p: g[m] - g[base] for p, g in per_pair.items()}
        over_rl = np.mean([g[m] - g["bicubic + RL"] for g in per_pair.values()])
        worse = [p for p, d in diff.items() if d < -0.05]
        out.append(
            f"- **{m}**: {np.mean([g[m] for g in per_pair.values()]):+.2f} dB over bicubic, "
            f"{over_rl:+.2f} dB over RL; against the model told the fit "
            f"{np.mean(list(diff.values())):+.2f} dB ({min(diff.values()):+.2f} to "
            f"{max(diff.values()):+.2f} per pair), more than 0.05 dB lower on "
            f"{', '.join(worse) or 'none'}"
        )
    base_mean = np.mean([g[base] for g in per_pair.values()])
    out.append(f"- **{base}**: {base_mean:+.2f} dB over bicubic")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", default=",".join(PAIRS))
    ap.add_argument("--results", help="JSON-lines file: appended to, or read with --table-only")
    ap.add_argument("--table-only", action="store_true")
    args = ap.parse_args(argv)
    if args.table_only:
        print(tables(read_results(Path(args.results))))
        return 0
    from napari_sisr.core.evaluation.scoring import prepare_pair

    records = []
    for name in args.pairs.split(","):
        lr, hr, s = load_pair(name)
        lr, hr = prepare_pair(lr, hr, s)
        parts = halves(lr, hr, s)
        for k in (0, 1):
            (lr_a, hr_a), (lr_b, hr_b) = parts[k], parts[1 - k]
            rec = {**run_half(name, lr_a, hr_a, lr_b, hr_b, s), "half": k}
            records.append(rec)
            print(json.dumps(rec), flush=True)
            if args.results:
                with open(args.results, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(rec) + "\n")
    print(tables(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
