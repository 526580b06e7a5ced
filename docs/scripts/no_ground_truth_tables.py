"""Write docs/without-ground-truth.md from the results files (never typed by hand).

Reads ``benchmarks/results/evidence.jsonl`` and ``evidence_cost.jsonl`` (written by
``benchmarks/bench_evidence.py``), ``real_pairs_no_ground_truth.jsonl`` (written by
``benchmarks/bench_real_pairs.py --methods bundled,aware,aware-auto,aware-optics,adapted,
adapted-always``, then ``--methods aware-refined,adapted-refined``), ``isotropic.jsonl``
(``benchmarks/bench_isotropic.py``), ``adapt_time.jsonl`` (``benchmarks/bench_adapt_time.py``)
and, for the chain trained on each pair, ``real_pairs_uniform_average.jsonl``.

    python docs/scripts/no_ground_truth_tables.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
PAGE = ROOT / "docs" / "without-ground-truth.md"
sys.path.insert(0, str(ROOT / "benchmarks"))

SET_OF = {
    "sted_561": "confocal -> STED (Bassoon)", "sted_640": "confocal -> STED (Homer)",
    "sim_high": "widefield -> SIM, high light", "sim_low": "widefield -> SIM, low light",
    "caco2_2x": "confocal pixel density 2x", "caco2_4x": "confocal pixel density 4x",
    "srrf": "widefield -> SRRF", "storm": "TIRF -> STORM",
}  # fmt: skip


def _read(name: str) -> list[dict]:
    path = RESULTS / name
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f} %"


def _rate(v) -> str:
    return "-" if v is None else f"{100 * v:.0f} %"


def evidence_section(records: list[dict], cost: list[dict]) -> list[str]:
    out = ["## The consistency map on the real pairs", ""]
    out += [
        "**Calibration.** Each pair's real HR image taken as if it were the SR output, degraded",
        "by the pair's own fit: the share of LR pixels beyond |z| = 3 (noise alone: 0.27 %).",
        "The goal, at most 2 %, applies where the fit's residual is white (lag-1",
        "autocorrelation at most 0.2): elsewhere the fitted model itself does not explain the",
        "pair, and the map says so instead of blaming the result.",
        "",
        "| pair | residual lag-1 | white | noise model | flagged | goal met |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        c = r.get("calibration")
        if not c:
            continue
        met = "-" if c["ok"] is None else ("yes" if c["ok"] else "**no**")
        out.append(f"| {r['pair']} | {c['fit_residual_lag1']:.2f} | "
                   f"{'yes' if c['white'] else 'no'} | {c['noise']} | {_pct(c['flagged'])} "
                   f"| {met} |")  # fmt: skip
    out += [
        "",
        "**Sensitivity.** Structures added to the real output of the aware model told the",
        "pair's fit (Gaussian spots, short lines) or one of its objects deleted, at a contrast",
        "of 2, 3, 5 and 10 noise std at the LR scale, 24 trials each: the share found by a",
        "flagged region at the structure, and the pixels flagged elsewhere (false alarms;",
        "goal: at least 90 % found at 5 std, at most 1 % false alarms). A dash: the output",
        "holds no object of that contrast to delete.",
        "",
        "| pair | spot 2/3/5/10 | line 2/3/5/10 | deleted 2/3/5/10 | false alarms |",
        "|---|---|---|---|---|",
    ]
    for r in records:
        s = r.get("sensitivity")
        if not s or "skipped" in s:
            continue
        cells = [" / ".join(_rate(s.get(f"{kind}@{k}")) for k in (2, 3, 5, 10))
                 for kind in ("spot", "line", "deleted")]  # fmt: skip
        out.append(f"| {r['pair']} | " + " | ".join(cells) + f" | {_pct(s['false_alarm'])} |")
    out += [
        "",
        "**Real failures.** The aware model told a PSF width twice or half the fit's, or the",
        "PSF of the other modality (widefield for confocal and back): the flagged share",
        "relative to the correctly steered output (goal: at least 3x).",
        "",
        "| pair | fitted PSF sigma (HR px) | correctly steered | 2x too wide | 2x too narrow "
        "| other modality |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        f = r.get("failures")
        if not f or "skipped" in f:
            continue
        out.append(f"| {r['pair']} | {r['fit_sigma']:.2f} | {_pct(f['right'])} | "
                   f"{f['double ratio']:.1f}x | "
                   f"{f['half ratio']:.1f}x | {f['other modality ratio']:.1f}x |")  # fmt: skip
    out += ["", "## Resolution without a reference", ""]
    out += [
        "Decorrelation analysis of each LR capture and its HR image (nm where the files state",
        "the pixel size, else LR pixels), beside nanopyx 2.1.5's figures on the same images",
        "(`benchmarks/nanopyx_decorr.py`; goal: within 10 %); the high-pass filters are",
        "those of the authors' ImageJ plugin, which nanopyx ports. Spread: how much one figure",
        "moves when the image is cropped by 1 to 13 px on each side (largest over smallest,",
        "LR / HR), ours and nanopyx's: agreement closer than a figure's own spread is not",
        "something either tool can show.",
        "",
        "| pair | LR | HR | HR finer | nanopyx LR | nanopyx HR | ours / nanopyx (LR, HR) "
        "| spread, ours | spread, nanopyx |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        z = r.get("resolution")
        if not z:
            continue
        u = z["unit"]
        finer = "yes" if z["hr"] < z["lr"] else "**no**"
        npx = ("-", "-", "-")
        if "nanopyx_lr" in z:
            npx = (f"{z['nanopyx_lr']:.3g} {u}", f"{z['nanopyx_hr']:.3g} {u}",
                   f"{z['ratio_lr']:.2f}, {z['ratio_hr']:.2f}")  # fmt: skip
        spread = [_spread(z, "spread"), _spread(z, "nanopyx_spread")]
        out.append(f"| {r['pair']} | {z['lr']:.3g} {u} | {z['hr']:.3g} {u} | {finer} | "
                   + " | ".join([*npx, *spread]) + " |")  # fmt: skip
    out += [
        "",
        "The resolution two independent halves of the capture agree on after super-resolution",
        "(FRC at 1/7 of the results of the two halves), in nm or LR pixels; `<=` marks a curve",
        "that never fell below 1/7 (the pixel limit: a bound, and where the noise was",
        "estimated rather than counted, the halves may share part of it).",
        "",
    ]
    methods = ["bicubic", "bicubic + RL", "default", "aware told the fit"]
    out += ["| pair | split | HR image | " + " | ".join(methods) + " |",
            "|---|---|---|" + "---|" * len(methods)]  # fmt: skip
    for r in records:
        sp = r.get("split")
        if not sp or "skipped" in sp:
            continue
        keys = [k for k in sp if k not in ("hr_decorrelation", "split", "at_limit")]
        cells = [("<= " if k in sp["at_limit"] else "") + f"{sp[k]:.3g}" for k in keys]
        how = "thinned counts" if "thinning" in sp["split"] else "recorrupted"
        out.append(f"| {r['pair']} | {how} | {sp['hr_decorrelation']:.3g} | "
                   + " | ".join(cells) + " |")  # fmt: skip
    for c in cost:
        side = c["side"]
        out += ["", f"**Cost.** Evidence on a {side} x {side} capture relative to `predict`",
                "alone, in one run on this machine:", ""]  # fmt: skip
        for model, v in c["cost"].items():
            out.append(f"- {model}: predict {v['predict_s']:.0f} s, evidence "
                       f"{v['evidence_s']:.0f} s (+{100 * v['added']:.0f} %)")  # fmt: skip
    return out


def _spread(z: dict, key: str) -> str:
    """ "LR / HR" spreads of one resolution record, or a dash where they were not measured."""
    if f"{key}_lr" not in z:
        return "-"
    return f"{z[f'{key}_lr']:.2f} / {z[f'{key}_hr']:.2f}"


def _mean_by_pair(records, methods):
    acc = defaultdict(lambda: defaultdict(list))
    for r in records:
        for m in methods:
            if m in r["scores"]:
                acc[r["pair"]][m].append(r["scores"][m])
    return {p: {m: [sum(v[i] for v in vals) / len(vals) for i in (0, 1)]
                for m, vals in ms.items()} for p, ms in acc.items()}  # fmt: skip


ROUTES = {
    "bundled": "blind model",
    "aware-auto": "aware, nothing given (auto)",
    "aware-optics": "aware, optics",
    "aware": "aware, calibrated once (fit)",
    "adapted": "adapted, calibrated once",
    "adapted-always": "adapted always",
    "aware-refined": "aware, calibrated once, refined",
    "adapted-refined": "adapted, calibrated once, refined",
}


def routes_section(records: list[dict], chain: list[dict]) -> list[str]:
    if not records:
        return []
    methods = ["bicubic", "bicubic + RL", *ROUTES]
    mean = _mean_by_pair(records, methods)
    chain_gain = {p: v["chain-init"][0] - v["bicubic"][0]
                  for p, v in _mean_by_pair(chain, ["bicubic", "chain-init"]).items()
                  if "chain-init" in v}  # fmt: skip
    out = ["## Gain without ground truth: the routes on the real pairs", ""]
    out += [
        'Each pair is cut in two halves; the PSF is fitted on one half ("calibrated once")',
        "and the other half's LR capture is super-resolved and scored against its HR image;",
        "then the halves swap. Adaptation sees the test half's LR capture alone, never an HR",
        "image; *refined*: the result refined against its capture (`napari-sisr refine`),",
        "the iteration count chosen on the calibration half, as RL's is. PSNR in dB over",
        "bicubic (mean of the two halves); RL: Richardson-Lucy with",
        "the same PSF. The optics route uses assumed optics (NA 1.4 oil, emission 600 and 660",
        "nm, confocal, for STED; NA 1.49, 520 nm, widefield, for SIM): the data does not",
        "document them, and the other pairs state no pixel size.",
        "",
        "| pair | bicubic | RL | " + " | ".join(ROUTES.values()) + " | chain trained on the pair |",
        "|---|---|---|" + "---|" * len(ROUTES) + "---|",
    ]
    gains = defaultdict(list)
    for pair, v in mean.items():
        b = v["bicubic"][0]
        cells = [f"{b:.2f}", f"{v['bicubic + RL'][0] - b:+.2f}"]
        for m in ROUTES:
            cells.append(f"{v[m][0] - b:+.2f}" if m in v else "-")
            if m in v:
                gains[m].append(
                    (
                        pair,
                        v[m][0] - b,
                        v[m][0] - v["bicubic + RL"][0],
                        v[m][1] - max(v["bicubic"][1], v["bicubic + RL"][1]),
                    )
                )
        cg = chain_gain.get(pair)
        cells.append(f"{cg:+.2f}" if cg is not None else "-")
        out.append(f"| {SET_OF.get(pair, pair)} | " + " | ".join(cells) + " |")
    out += ["", "Means over the pairs each route ran on:", ""]
    for m, label in ROUTES.items():
        g = gains.get(m)
        if not g:
            continue
        n = len(g)
        over_b = sum(x[1] for x in g) / n
        over_rl = sum(x[2] for x in g) / n
        below_rl = [p for p, _, d, _ in g if d < 0]
        below_b = [p for p, d, _, _ in g if d < 0]
        ssim_below = [p for p, _, _, d in g if d < 0]
        out.append(f"- **{label}**: {over_b:+.2f} dB over bicubic, {over_rl:+.2f} dB over RL "
                   f"({n} pairs); below RL on {', '.join(below_rl) or 'none'}; below bicubic "
                   f"on {', '.join(below_b) or 'none'}; SSIM below the better baseline on "
                   f"{', '.join(ssim_below) or 'none'}")  # fmt: skip
    secs = [r["train_s"]["adapted"]["wall"] for r in records
            if isinstance(r.get("train_s", {}).get("adapted"), dict)
            and r["train_s"]["adapted"]["adapted"]]  # fmt: skip
    if secs:
        out += ["", f"Adaptation, where it ran: {min(secs):.0f} to {max(secs):.0f} s of wall "
                "time per half (about 128 x 64 LR px) on this machine's 2 cores, next to the "
                "other benchmarks."]  # fmt: skip
    return out


def isotropic_section(records: list[dict]) -> list[str]:
    if not records:
        return []
    out = ["## Isotropic stacks", ""]
    restore = [r["restore"] for r in records if "restore" in r and "scores" in r["restore"]]
    if restore:
        out += [
            "A real stack whose z step is finer than its pixel, resampled along z to one plane",
            "per xy pixel (the isotropic reference), blurred along z and cut to every 4th plane,",
            "then restored from the cut stack alone and scored against the reference (PSNR dB /",
            "SSIM):",
            "",
            "| stack | planes kept | blur (planes) | fitted blur | linear | cubic | 2D model on "
            "xz and yz | isotropic | over cubic | time |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in restore:
            sc = r["scores"]
            two_d = next((v for k, v in sc.items() if k.startswith("2D")), None)
            cells = [f"{sc[k][0]:.2f} / {sc[k][1]:.3f}" for k in ("linear", "cubic")]
            cells.append(f"{two_d[0]:.2f} / {two_d[1]:.3f}" if two_d else "-")
            cells.append(f"{sc['isotropic'][0]:.2f} / {sc['isotropic'][1]:.3f}")
            gain = sc["isotropic"][0] - sc["cubic"][0]
            out.append(f"| {r['stack']} | {r['shape'][0]} | {r['blur']:g} | "
                       f"{r['fitted_sigma']:.2f} | " + " | ".join(cells)
                       + f" | {gain:+.2f} dB | {r['seconds']:.0f} s |")  # fmt: skip
    for r in restore:
        d = r.get("decorrelation_nm")
        if not d:
            continue
        line = (
            f"Decorrelation of the xz slices of {r['stack']}, along z (xy: {d['lateral']:.0f} "
            f"nm): reference {d['axial, reference']:.0f} nm, linear {d['axial, linear']:.0f} "
            f"nm, isotropic {d['axial, isotropic']:.0f} nm."
        )
        out += ["", line]
        if d["axial, linear"] < d["axial, reference"]:
            out[-1] += (
                f" It does not rank them here (interpolation cannot be finer than the stack it "
                f"was cut from): on slices of {r['shape'][0] * r['factor']} planes the analysis "
                "has too few frequencies to go on; PSNR and SSIM above are the measure."
            )
    acq = [r["acquired"] for r in records if "acquired" in r]
    if acq:
        out += [
            "",
            "As acquired: the decorrelation resolution of the xz slices (linear",
            "interpolation before, the restoration after) against that of the xy planes:",
            "",
        ]
        for r in acq:
            if "skipped" in r:
                out.append(f"- {r['stack']}: not applicable ({r['skipped']})")
                continue
            out.append(
                f"- {r['stack']} (z x{r['factor']}, fitted axial blur "
                f"{r['fitted_sigma_xy_px']:.1f} xy px): lateral {r['lateral_nm']:.0f} nm; axial "
                f"{r['axial_before_nm']:.0f} nm before ({r['before_over_lateral']:.2f}x the "
                f"lateral), {r['axial_after_nm']:.0f} nm after "
                f"({r['after_over_lateral']:.2f}x)"
            )
            if r["before_over_lateral"] < 1:
                out[-1] += (
                    "; decorrelation misreads this stack (before restoration the axial figure "
                    "cannot be finer than the lateral one: a sparse stack is mostly noise)"
                )
            if "bead_sigma_before_nm" in r:
                b, a = r["bead_sigma_before_nm"], r["bead_sigma_after_nm"]
                out.append(
                    f"  - the beads' fitted sigma (z, y, x): {b[0]:.0f}, {b[1]:.0f}, {b[2]:.0f} nm "
                    f"before; {a[0]:.0f}, {a[1]:.0f}, {a[2]:.0f} nm after (axial / lateral "
                    f"{b[0] / b[2]:.2f} before, {a[0] / a[2]:.2f} after)"
                )
    for r in (r["scale"] for r in records if "scale" in r):
        out += ["", f"In blocks to OME-Zarr: a {' x '.join(map(str, r['shape']))} stack "
                f"({r['voxels_in'] / 1e6:.0f} Mvoxel in, {4 * r['voxels_in'] / 1e6:.0f} out, "
                f"{r['output_mb']:.0f} MB of float32) in {r['seconds']:.0f} s including "
                f"{r['train_iters']} training steps, peak memory {r['peak_rss_mb']:.0f} MB "
                f"(the input alone: {r['input_mb']:.0f} MB)."]  # fmt: skip
    return out


def adapt_time_section(records: list[dict]) -> list[str]:
    if not records:
        return []
    out = [
        "## Adaptation time",
        "",
        "One adaptation with the defaults (`benchmarks/bench_adapt_time.py`: a central crop of",
        "a real widefield capture, the whole run from start to the exported model), on this",
        "project's 2-core machines, no GPU:",
        "",
        "| capture | steps | time | CPU |",
        "|---|---|---|---|",
    ]
    for r in records:
        out.append(
            f"| {r['side']} x {r['side']} px | {r['steps']} | {r['seconds'] / 60:.1f} min "
            f"| {r['cpu']} |"
        )
    return out


def render() -> str:
    head = [
        "# Without ground truth: the measurements",
        "",
        "What the evidence, the PSF sources and the adaptation do on the real LR/HR pairs",
        "(`../shared/data/pairs/`). Generated by `docs/scripts/no_ground_truth_tables.py` from",
        "`benchmarks/results/` (`MANIFEST.json` there names the command that wrote each file);",
        "the guide is [How far to trust a result](trust.md).",
        "",
    ]
    body = routes_section(_read("real_pairs_no_ground_truth.jsonl"),
                          _read("real_pairs_uniform_average.jsonl"))  # fmt: skip
    body += [""] + evidence_section(_read("evidence.jsonl"), _read("evidence_cost.jsonl"))
    iso = isotropic_section(_read("isotropic.jsonl"))
    body += ([""] + iso) if iso else []
    timing = adapt_time_section(_read("adapt_time.jsonl"))
    body += ([""] + timing) if timing else []
    return "\n".join(head + body) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the page is out of date")
    args = ap.parse_args(argv)
    page = render()
    if args.check:
        return 0 if PAGE.read_text(encoding="utf-8") == page else 1
    PAGE.write_text(page, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
