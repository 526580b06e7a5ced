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

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "models.md"
MODELS = REPO / "src" / "napari_sisr" / "models"
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_default_models import grid_table, rows_table  # noqa: E402


def tables(meta: dict) -> str:
    bench = meta["benchmark"]["held_out"]
    lines = rows_table(bench["rows"])
    lines += [
        "",
        f"**Mean over the {len(bench['rows'])} conditions: {bench['mean_psnr_gain_db']:+.2f} dB "
        f"PSNR and {bench['mean_ssim_gain']:+.4f} SSIM over bicubic.**",
    ]
    grid = bench.get("grid_rows")
    if grid:
        n_sigma = len({r["sigma"] for r in grid})
        n_noise = len({r["noise"] for r in grid})
        lines += [
            "",
            f"Over all {n_sigma} x {n_noise} sigma x noise pairs "
            f"(`--grid`): {bench['grid_mean_psnr_gain_db']:+.2f} dB. Mean gain (dB) over the "
            "four images:",
            "",
            *grid_table(grid),
        ]
    auto = bench.get("grid_rows_auto")
    if auto:  # a degradation-aware model: above, told the truth; here, estimating it
        below = sum(r["psnr_sr"] < r["psnr_bicubic"] for r in grid)
        read = (meta.get("steering") or {}).get("sigma_from_image")
        width = "read from the LR image by the learned estimator" if read else "the card's default"
        lines += [
            "",
            f"Told the true degradation, {below} of the {len(grid)} image-condition pairs are "
            "below bicubic. With automatic steering (noise estimated from the LR image, PSF "
            f"width {width}): {bench['grid_mean_psnr_gain_db_auto']:+.2f} dB over the grid:",
            "",
            *grid_table(auto),
        ]
    content = bench.get("content_model")
    if content:  # a GAN-refined model: what the adversarial phase cost and added
        bg, bg_c = bench["background_std_gan"], bench["background_std_content"]
        above = sum(r["bg_std_ratio"] > 1 for r in grid)
        above_c = sum(r["bg_std_ratio"] > 1 for r in content["grid_rows"])
        lines += [
            "",
            f"Against `{content['name']}`, the content model it was refined from, on the same "
            "grid (both told the true degradation):",
            "",
            f"| | `{meta['name']}` | `{content['name']}` | bicubic |",
            "|---|---:|---:|---:|",
            f"| mean PSNR gain over bicubic (dB) | {bench['grid_mean_psnr_gain_db']:+.2f} | "
            f"{content['grid_mean_psnr_gain_db']:+.2f} | +0.00 |",
            f"| fine detail restored (agreeing with the HR image) | {bench['detail_gan']:.3f} | "
            f"{bench['detail_content']:.3f} | {bench['detail_bicubic']:.3f} |",
            f"| spectral power just beyond the LR's Nyquist, of the HR image's | "
            f"{_mean(grid, 'sharpness_sr'):.3f} | {_mean(content['grid_rows'], 'sharpness_sr'):.3f}"
            f" | {_mean(grid, 'sharpness_bicubic'):.3f} |",
            f"| output std on empty background, of bicubic's: mean / highest | "
            f"{bg['mean']:.2f} / {bg['max']:.2f} | {bg_c['mean']:.2f} / {bg_c['max']:.2f} | 1 |",
            f"| image-condition pairs with more background std than bicubic | {above} of "
            f"{len(grid)} | {above_c} of {len(content['grid_rows'])} | - |",
        ]
    return "\n".join(lines)


def _mean(rows: list[dict], key: str) -> float:
    return sum(r[key] for r in rows) / len(rows)


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
