"""Write the "At a glance" section of docs/real-captures.md from the results files.

    python docs/scripts/real_captures_glance.py          # rewrite the section
    python docs/scripts/real_captures_glance.py --check  # exit 1 if it is out of date

Every figure of the section is computed here from ``benchmarks/results/`` (the runs of
today's defaults on the real LR/HR pairs, 18 test halves): nothing in it is typed by hand.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "real-captures.md"
RESULTS = REPO / "benchmarks" / "results"
START, END = (
    "<!-- at a glance: docs/scripts/real_captures_glance.py -->",
    "<!-- end at a glance -->",
)
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_real_pairs import SETS, merge, read_results  # noqa: E402

#: The results files the section is computed from.
FILES = (
    "real_pairs_uniform_average.jsonl",
    "ensemble_uniform_average.jsonl",
    "real_pairs_paired_uniform.jsonl",
    "real_pairs_aware_tuned.jsonl",
    "real_pairs_no_ground_truth.jsonl",
    "real_pairs_gan_final.jsonl",
)


def _read(name: str) -> list[dict]:
    return merge(read_results(RESULTS / name))


def _with(records: list[dict], method: str) -> list[dict]:
    return [r for r in records if method in r["scores"]]


def _gain(records, method, ref="bicubic", k=0) -> float:
    """Mean difference of ``method`` over ``ref`` (PSNR: k 0, SSIM: k 1) on its halves."""
    rs = _with(records, method)
    return float(np.mean([r["scores"][method][k] - r["scores"][ref][k] for r in rs]))


def _by_set(records, method, ref="bicubic + RL", k=0) -> dict[str, float]:
    """Mean margin of ``method`` over ``ref`` per pair set."""
    out = defaultdict(list)
    for r in _with(records, method):
        out[SETS[r["pair"]]].append(r["scores"][method][k] - r["scores"][ref][k])
    return {s: float(np.mean(v)) for s, v in out.items()}


def _same_halves(a: list[dict], ma: str, b: list[dict], mb: str) -> np.ndarray:
    """PSNR of ``ma`` (in ``a``) minus ``mb`` (in ``b``) on the halves both ran."""
    other = {(r["pair"], r["half"]): r["scores"][mb][0] for r in _with(b, mb)}
    return np.array(
        [
            r["scores"][ma][0] - other[(r["pair"], r["half"])]
            for r in _with(a, ma)
            if (r["pair"], r["half"]) in other
        ]
    )


def _cpu_min(records, method) -> float:
    return float(np.mean([r["train_s"][method][0] for r in _with(records, method)]) / 60)


def _short(label: str) -> str:
    return label.split(",")[0].replace(" (", ", ").replace(")", "")


def render() -> str:
    chain = _read("real_pairs_uniform_average.jsonl")
    paired = _read("real_pairs_paired_uniform.jsonl")
    aware = _read("real_pairs_aware_tuned.jsonl")
    gan = _read("real_pairs_gan_final.jsonl")
    blind = _read("real_pairs_no_ground_truth.jsonl")
    ens = read_results(RESULTS / "ensemble_uniform_average.jsonl")
    n = len(_with(chain, "chain-init"))
    over_rl = _by_set(chain, "chain-init")
    closest, widest = min(over_rl, key=over_rl.get), max(over_rl, key=over_rl.get)
    ssim_sets = _by_set(chain, "chain-init", k=1)
    every_set = min(over_rl.values()) > 0 and min(ssim_sets.values()) > 0
    above = "above it on every pair set" if every_set else "not above it on every pair set"
    ens_gain = np.array([r["scores"]["ensemble"][0] - r["scores"]["plain"][0] for r in ens])
    ft = _same_halves(chain, "finetune", chain, "chain-init")
    p_rl = _by_set(paired, "paired-init")
    p_vs = _same_halves(paired, "paired-init", chain, "chain-init")
    tuned_vs = _same_halves(aware, "aware-tuned", chain, "chain-init")
    gan_cost = -_same_halves(gan, "chain-init+gan", chain, "chain-init")
    bg = [
        r["background_std"]["chain-init+gan"]
        for r in gan
        if "chain-init+gan" in r.get("background_std", {})
    ]
    lines = [
        "What the default chain gives on these real captures (fit the training half, then",
        "`napari-sisr train --hr HR --degradation FIT.json --iters 1500` with every other",
        f"setting at its default, {_cpu_min(chain, 'chain-init'):.1f} minutes of CPU time per "
        f"run, early stopping included; {n} test halves;",
        "[details](#the-default-chain-fit-then-train)):",
        "",
        f"- **{_gain(chain, 'chain-init'):+.2f} dB PSNR over bicubic on average** and "
        f"**{_gain(chain, 'chain-init', 'bicubic + RL'):+.2f} dB over bicubic + Richardson-Lucy** "
        f"with the fitted PSF, {above}"
        f": by {over_rl[closest]:.2f} dB on {_short(closest)}, the closest, by "
        f"{over_rl[widest]:.1f} dB on {_short(widest)}. SSIM "
        f"{_gain(chain, 'chain-init', k=1):+.3f} over bicubic, against "
        f"{_gain(chain, 'bicubic + RL', k=1):+.3f} for Richardson-Lucy. The self-ensemble at "
        f"inference (`--ensemble`) adds {ens_gain.mean():+.2f} dB.",
        f"- Fine-tuning for a third of the steps (`--iters 500`, "
        f"{_cpu_min(chain, 'finetune'):.1f} minutes of CPU time) against the full 1500 on the "
        f"{len(ft)} halves with a bundled model of their scale: {ft.mean():+.2f} dB "
        f"({_gain(chain, 'finetune'):+.2f} dB over bicubic there, "
        f"{_gain(chain, 'finetune', 'bicubic + RL'):+.2f} dB over RL).",
        "- With a registered pair, training on it directly (`--lr-images`, the paired mode, "
        f"from the bundled model): **{_gain(paired, 'paired-init'):+.2f} dB over bicubic** and "
        f"**{_gain(paired, 'paired-init', 'bicubic + RL'):+.2f} dB over bicubic + RL**, "
        f"{'above RL on every pair set' if min(p_rl.values()) > 0 else 'not above RL on every set'}"
        f", {p_vs.mean():+.2f} dB against the chain on the same halves "
        "([details](#with-a-registered-pair-the-paired-mode)).",
        "- Zero-shot, without training: the degradation-aware models steered as tuned on the "
        f"training half (`napari-sisr tune`, seconds) gain **{_gain(aware, 'aware-tuned'):+.2f} "
        f"dB over bicubic and {_gain(aware, 'aware-tuned', 'bicubic + RL'):+.2f} dB over "
        f"bicubic + RL** on the {len(tuned_vs)} halves of their scales, "
        f"{-tuned_vs.mean():.2f} dB below the default chain; told the fit as it is, "
        f"{_gain(aware, 'aware'):+.2f} dB ({_gain(aware, 'aware', 'bicubic + RL'):+.2f} dB "
        f"over RL); the blind bundled models {_gain(blind, 'bundled'):+.2f} dB "
        "([details](#without-training-steering-the-degradation-aware-models)).",
        f"- The GAN-refined chain (`--gan`) costs {gan_cost.mean():.2f} dB against the default "
        f"content chain on the same {len(gan_cost)} halves ({gan_cost.min():.2f} to "
        f"{gan_cost.max():.2f} dB) and is sharper; its background std is above bicubic's on "
        f"{sum(v > 1 for v in bg)} of the {len(bg)} halves "
        "([details](#the-gan-phase-sharper-for-looking)). Look with it, measure with the "
        "content model.",
    ]
    used = ", ".join(f"`benchmarks/results/{name}`" for name in FILES)
    lines += ["", f"*Computed by `docs/scripts/real_captures_glance.py` from {used}.*"]
    return "\n".join(_wrap(line) for line in lines)


def _wrap(line: str, width: int = 94) -> str:
    """A bullet wrapped for reading the Markdown source (the rendered page reflows it)."""
    import textwrap

    if not line.startswith("- "):
        return line
    return textwrap.fill(line, width, subsequent_indent="  ", break_on_hyphens=False)


def page_with_section(page: str) -> str:
    start = page.index(START) + len(START)
    return page[:start] + "\n\n" + render() + "\n\n" + page[page.index(END) :]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    page = PAGE.read_text(encoding="utf-8")
    new = page_with_section(page)
    if args.check:
        return int(new != page)
    PAGE.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
