"""Self-ensemble on the real LR/HR pairs: each model's test-half score with and without it.

The models are those ``bench_real_pairs.py --keep DIR`` kept (folders ``PAIR-HALF-METHOD``,
trained on one half of a pair); each is run on the other half's real LR capture once plainly
and once with ``ensemble=True`` (eight orientations averaged; four for degradation-aware
models), and both are scored by the real-pairs protocol (:func:`napari_sisr.evaluate`'s
registration, gain/offset match and border). ``--bundled`` adds the bundled models of each
scale, zero-shot (the degradation-aware one told the degradation fitted on the training
half). The inference time of both runs is measured in the same process, one after the other,
after one untimed run of each (graph exports and compilations), so their ratio is the
ensemble's cost on this machine::

    python benchmarks/bench_real_pairs.py --iters 1500 --methods chain-init --keep runs/models
    python benchmarks/bench_ensemble.py --models runs/models --bundled \\
        --results benchmarks/results/ensemble_real_pairs.jsonl

Results are appended per model (a rerun skips those already in ``--results``) and the tables
are printed from the whole file; ``--table-only`` prints them without running anything.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_real_pairs as rp  # noqa: E402  (the pairs, their halves and the pair-set names)
from _common import background_std_ratio, detail_ratio, sharpness_ratio  # noqa: E402


def _run(lr, model, ensemble: bool, degradation=None):
    from napari_sisr import predict

    options = {"degradation": degradation} if degradation is not None else {}
    c0, t0 = time.process_time(), time.perf_counter()
    out = predict(lr, model, dtype="float32", ensemble=ensemble, **options)
    out = np.asarray(out, float)
    return out, (time.process_time() - c0, time.perf_counter() - t0)


def score_model(name: str, k: int, method: str, model) -> dict:
    """Plain and ensemble scores of one model on the test half of pair ``name``."""
    from napari_sisr import fit_degradation
    from napari_sisr.core.evaluation.scoring import bicubic_upsample, prepare_pair, score_outputs
    from napari_sisr.core.inference.steering import is_degradation_aware
    from napari_sisr.core.modelio import load_model

    lr, hr, s = rp.load_pair(name)
    lr, hr = prepare_pair(lr, hr, s)
    parts = rp.halves(lr, hr, s)
    (lr_a, hr_a), (lr_b, hr_b) = parts[k], parts[1 - k]
    net = load_model(model)
    deg = fit_degradation(hr_a, lr_a, s) if is_degradation_aware(net) else None
    x = lr_b.astype(np.float32)
    for ensemble in (False, True):  # untimed: graph exports and compilations of each shape
        _run(x, net, ensemble, deg)
    plain, t_plain = _run(x, net, False, deg)
    both, t_both = _run(x, net, True, deg)
    bic = bicubic_upsample(lr_b, s)
    outputs = {"bicubic": bic, "plain": plain, "ensemble": both}
    scores = score_outputs(outputs, hr_b, s).scores
    runs = {"plain": plain, "ensemble": both}
    return {
        "pair": name,
        "half": k,
        "scale": s,
        "method": method,
        "scores": {m: [v.psnr, v.ssim] for m, v in scores.items()},
        "seconds": {"plain": list(t_plain), "ensemble": list(t_both)},
        # as in bench_real_pairs.py: std on the HR image's empty background over bicubic's,
        # and detail beyond the LR's Nyquist frequency (agreeing with HR / all power; HR = 1)
        "background_std": {m: background_std_ratio(o, bic, hr_b, s) for m, o in runs.items()},
        "detail": {
            m: [detail_ratio(o, hr_b, s), sharpness_ratio(o, hr_b, s)] for m, o in runs.items()
        },
    }


def kept_models(folder: Path) -> list[tuple[str, int, str, str]]:
    """(pair, half, method, model JSON) of every finished run that ``--keep`` left here."""
    found = []
    for run in sorted(folder.iterdir()):
        pair, _, rest = run.name.partition("-")
        half, _, method = rest.partition("-")
        if pair in rp.SETS and half in ("0", "1") and (run / "model.json").exists():
            found.append((pair, int(half), method, str(run / "model.json")))
    return found


def bundled(pairs: list[str]) -> list[tuple[str, int, str, str]]:
    """Each bundled model of a pair's scale (plain and degradation-aware), on both halves."""
    from napari_sisr.core.modelio import bundled_models

    have = bundled_models()
    out = []
    for pair in pairs:
        s = rp.load_pair(pair)[2]
        for kind in ("default", "aware"):
            name = f"{kind}-{s}x"
            if name in have:
                out += [(pair, k, name.replace(f"-{s}x", ""), name) for k in (0, 1)]
    return out


def tables(records: list[dict]) -> str:
    """Per method: the ensemble's gain over the plain run, the gains over bicubic, the cost."""
    lines = [
        "| method | halves | plain over bicubic (dB) | ensemble over bicubic (dB) | ensemble "
        "gain: mean (min to max) | SSIM gain | halves it helps | time ratio |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    methods = sorted({r["method"] for r in records})
    for m in methods:
        rs = [r for r in records if r["method"] == m]
        psnr = np.array([[r["scores"][k][0] for k in ("bicubic", "plain", "ensemble")] for r in rs])
        ssim = np.array([[r["scores"][k][1] for k in ("plain", "ensemble")] for r in rs])
        gain = psnr[:, 2] - psnr[:, 1]
        wall = sum(r["seconds"]["ensemble"][1] for r in rs) / sum(
            r["seconds"]["plain"][1] for r in rs
        )
        lines.append(
            f"| {m} | {len(rs)} | {np.mean(psnr[:, 1] - psnr[:, 0]):+.2f} | "
            f"{np.mean(psnr[:, 2] - psnr[:, 0]):+.2f} | {gain.mean():+.3f} ({gain.min():+.2f} to "
            f"{gain.max():+.2f}) | {np.mean(ssim[:, 1] - ssim[:, 0]):+.4f} | "
            f"{int((gain > 0).sum())}/{len(rs)} | {wall:.1f}x |"
        )
    lines += [
        "",
        "| method | background std over bicubic's: plain / ensemble, mean (largest) | detail "
        "beyond LR Nyquist, agreeing with HR: plain / ensemble | all power there |",
        "|---|---|---|---|",
    ]
    for m in methods:
        rs = [r for r in records if r["method"] == m and "background_std" in r]
        if rs:
            bg = np.array([[r["background_std"][k] for k in ("plain", "ensemble")] for r in rs])
            de = np.array([[r["detail"][k] for k in ("plain", "ensemble")] for r in rs])
            lines.append(
                f"| {m} | {bg[:, 0].mean():.2f} ({bg[:, 0].max():.2f}) / {bg[:, 1].mean():.2f} "
                f"({bg[:, 1].max():.2f}) | {de[:, 0, 0].mean():.3f} / {de[:, 1, 0].mean():.3f} | "
                f"{de[:, 0, 1].mean():.2f} / {de[:, 1, 1].mean():.2f} |"
            )
    lines += ["", "| pair set | method | plain | ensemble |", "|---|---|---:|---:|"]
    for label in dict.fromkeys(rp.SETS.values()):  # a set's pairs together (SIM: 2 lights)
        for m in methods:
            rs = [r for r in records if rp.SETS[r["pair"]] == label and r["method"] == m]
            if rs:
                mean = {k: np.mean([r["scores"][k][0] for r in rs]) for k in ("plain", "ensemble")}
                lines.append(f"| {label} | {m} | {mean['plain']:.2f} | {mean['ensemble']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, help="a folder of runs kept by bench_real_pairs.py")
    ap.add_argument("--bundled", action="store_true", help="also the bundled models, zero-shot")
    ap.add_argument("--pairs", default=",".join(rp.SETS), help="pairs for --bundled")
    ap.add_argument("--results", type=Path, help="JSON lines: append results, skip done ones")
    ap.add_argument("--threads", type=int, help="CPU threads of torch (default: all)")
    ap.add_argument("--table-only", action="store_true", help="print the tables of --results")
    args = ap.parse_args(argv)
    records = rp.read_results(args.results) if args.results and args.results.exists() else []
    if not args.table_only:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        todo = kept_models(args.models) if args.models else []
        todo += bundled(args.pairs.split(",")) if args.bundled else []
        done = {(r["pair"], r["half"], r["method"]) for r in records}
        for pair, k, method, model in todo:
            if (pair, k, method) in done:
                continue
            rec = score_model(pair, k, method, model)
            sc = rec["scores"]
            print(
                f"{pair} half {k} {method}: bicubic {sc['bicubic'][0]:.2f}, plain "
                f"{sc['plain'][0]:.2f}, ensemble {sc['ensemble'][0]:.2f}",
                file=sys.stderr,
                flush=True,
            )
            records.append(rec)
            if args.results:
                with args.results.open("a") as fh:
                    fh.write(json.dumps(rec) + "\n")
    if not records:
        print("nothing scored: give --models DIR, --bundled or --results", file=sys.stderr)
        return 2
    print(tables(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
