"""Write the measured tables of the bundled models into docs/models.md from their JSON cards.

    python docs/scripts/model_cards.py          # rewrite the tables in docs/models.md
    python docs/scripts/model_cards.py --check  # exit 1 if docs/models.md is out of date

Each bundled model's section holds a ``<!-- NAME metrics -->`` marker; everything from it to
the next ``<!-- end NAME metrics -->`` is generated from the model's ``benchmark`` block
(written by ``scripts/bundle_default_models.py``): the per-condition table of the 3-condition
benchmark, its mean, and the mean gain over the full sigma x noise grid.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "models.md"
MODELS = REPO / "src" / "napari_sisr" / "models"


def tables(meta: dict) -> str:
    bench = meta["benchmark"]["held_out"]
    lines = [
        "| image | sigma (HR px) | noise | PSNR model | PSNR bicubic | gain | SSIM model | "
        "SSIM bicubic |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in bench["rows"]:
        lines.append(
            f"| {r['image']} | {r['sigma']:.1f} | {100 * r['noise']:.1f} % | {r['psnr_sr']:.2f} | "
            f"{r['psnr_bicubic']:.2f} | {r['psnr_sr'] - r['psnr_bicubic']:+.2f} | "
            f"{r['ssim_sr']:.4f} | {r['ssim_bicubic']:.4f} |"
        )
    n = len(bench["rows"])
    lines += [
        "",
        f"**Mean over the {n} conditions: {bench['mean_psnr_gain_db']:+.2f} dB PSNR and "
        f"{bench['mean_ssim_gain']:+.4f} SSIM over bicubic.**",
    ]
    grid = bench.get("grid_rows")
    if grid:
        sigmas = sorted({r["sigma"] for r in grid})
        noises = sorted({r["noise"] for r in grid})
        lines += [
            "",
            f"Over all {len(sigmas)} x {len(noises)} sigma x noise pairs "
            f"(`--grid`): {bench['grid_mean_psnr_gain_db']:+.2f} dB. Mean gain (dB) over the "
            "four images:",
            "",
            "| sigma (HR px) | " + " | ".join(f"noise {100 * n:.1f} %" for n in noises) + " |",
            "|---" * (len(noises) + 1) + "|",
        ]
        for sg in sigmas:
            cells = [
                np.mean(
                    [
                        r["psnr_sr"] - r["psnr_bicubic"]
                        for r in grid
                        if r["sigma"] == sg and r["noise"] == n
                    ]
                )
                for n in noises
            ]
            lines.append(f"| {sg:.1f} | " + " | ".join(f"{c:+.2f}" for c in cells) + " |")
    return "\n".join(lines)


def render(text: str) -> str:
    for path in sorted(MODELS.glob("*.json")):
        meta = json.loads(path.read_text())
        if "benchmark" not in meta:
            continue
        name = path.stem
        pattern = re.compile(
            rf"(<!-- {re.escape(name)} metrics -->).*?(<!-- end {re.escape(name)} metrics -->)",
            re.S,
        )
        if not pattern.search(text):
            raise SystemExit(f"docs/models.md has no '<!-- {name} metrics -->' section")
        body = tables(meta)
        text = pattern.sub(lambda m, body=body: f"{m.group(1)}\n\n{body}\n\n{m.group(2)}", text)
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    old = DOC.read_text(encoding="utf-8")
    new = render(old)
    if args.check:
        if new != old:
            print("docs/models.md is out of date: run python docs/scripts/model_cards.py")
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
