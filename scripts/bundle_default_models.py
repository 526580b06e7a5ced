"""Copy trained default models into the package, with their measured model cards.

    python scripts/bundle_default_models.py RUN_DIR [RUN_DIR ...]
    python scripts/bundle_default_models.py --card-only   # refresh the cards' input statistics

Each ``RUN_DIR/<name>-<s>x/model.{json,safetensors}`` (written by
``scripts/train_default_models.py``) is measured on the held-out images by
``benchmarks/bench_default_models.py`` and copied to ``src/napari_sisr/models/default-<s>x.*``
(``aware-<s>x.*`` for a degradation-aware model, measured both told the true degradation and
estimating it; ``-gan`` added for a run with the adversarial phase, measured against the
content model it started from) with the measurements and the commands that trained it
added to its JSON.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "scripts"))

from bench_default_models import CONDITIONS, HELD_OUT, NOISES, SIGMAS, evaluate, gain  # noqa: E402

DEST = REPO / "src" / "napari_sisr" / "models"
#: What the bundled models were trained on (their cards say so; inputs unlike it get a warning).
MODALITIES = ["widefield fluorescence", "confocal fluorescence"]


def input_statistics(data: Path) -> dict:
    """Domain statistics of the training images (every plane the training script exports)."""
    from train_default_models import TRAIN, planes

    from napari_sisr.core.inference.domain import image_statistics, statistics_range
    from napari_sisr.core.io.images import to_gray

    stats = []
    for rel, how in TRAIN:
        for plane in planes(data / rel, how):
            arr = np.asarray(plane)
            arr = to_gray(arr) if arr.ndim == 3 else arr
            stats.append(image_statistics(arr.reshape(-1)))
    return statistics_range(stats)


def refresh_cards(data: Path) -> None:
    """Add the modalities and the training images' statistics to every bundled card, and the
    digest that ties each JSON to its weights."""
    from napari_sisr.core.modelio import file_digest

    stats = input_statistics(data)
    for path in sorted([*DEST.glob("default-*.json"), *DEST.glob("aware-*.json")]):
        meta = json.loads(path.read_text())
        meta["card"] = {**meta.get("card", {}), "modalities": MODALITIES, "input_statistics": stats}
        meta["weights_sha256"] = file_digest(path.with_suffix(".safetensors"))
        path.write_text(json.dumps(meta, indent=2) + "\n")
        print(f"{path.name}: input statistics {stats}")


def stages(run: Path) -> list[str]:
    """The training commands of a model, following its ``--init`` chain back to the start
    (through a bundled model's card when it started from one)."""
    cmd = json.loads((run / "command.json").read_text())
    out = [" ".join(["napari-sisr", *cmd[2:]])]
    if "--init" in cmd:
        init = cmd[cmd.index("--init") + 1]
        if (Path(init).parent / "command.json").exists():
            out = stages(Path(init).parent) + out
        elif (DEST / f"{init}.json").exists():
            card = json.loads((DEST / f"{init}.json").read_text()).get("card", {})
            out = list(card.get("training_commands", [])) + out
    return out


#: PSF width a degradation-aware model assumes when neither the user nor the image says
#: (HR px per unit of scale): half an LR pixel, a well-sampled widefield image.
AWARE_DEFAULT_SIGMA_PER_SCALE = 0.5
#: Scales whose aware model reads the PSF width from the image (the learned estimator) before
#: falling back to that default: where ``benchmarks/bench_sigma_estimate.py`` finds the
#: estimate closer to the truth than the default on the held-out grid.
SIGMA_FROM_IMAGE_SCALES = (2,)


def bundle(run: Path, data: Path) -> None:
    """Measure one trained run on the held-out grid and copy it into the package."""
    from napari_sisr.core.inference.steering import is_degradation_aware_arch

    config = json.loads((run / "config.json").read_text())
    gan = bool(config.get("adversarial"))
    # A GAN run is bundled from its last generator: its best by validation PSNR is the
    # content model it started from.
    model = run / ("model_last" if gan else "model")
    meta = json.loads(model.with_suffix(".json").read_text())
    s = int(meta["scale"])
    aware = is_degradation_aware_arch(meta.get("arch"))
    name = f"{'aware' if aware else 'default'}-{s}x" + ("-gan" if gan else "")
    grid = [(sg, n) for sg in SIGMAS for n in NOISES]
    all_rows = evaluate(str(model.with_suffix(".json")), data, conditions=grid)
    # The noise of each image is seeded by the image only, so the diagonal rows are exactly
    # what the 3-condition benchmark measures.
    rows = [r for r in all_rows if (r["sigma"], r["noise"]) in CONDITIONS]
    psnr_gain, dssim, grid_gain = gain(rows), gain(rows, "ssim"), gain(all_rows)
    deg = meta.get("degradation", {})
    soft = deg.get("content_sigma")
    extra = f"; trained with soft specimens, HR blur {soft[0]}-{soft[1]} px" if soft else ""
    sig, noise = deg.get("sigma", [1.0, 3.0]), deg.get("noise_std", [0.005, 0.05])
    ranges = (
        f"sigma {sig[0]:g}-{sig[1]:g} HR px, Gaussian noise std {100 * noise[0]:g}-"
        f"{100 * noise[1]:g} % of the image range, optional Poisson{extra}"
    )
    meta["name"] = name
    summary = (
        f"x{s} super-resolution of single-channel widefield / confocal fluorescence, blind "
        f"to the exact degradation ({ranges})"
    )
    benchmark = {
        "images": HELD_OUT,
        "conditions_sigma_noise": CONDITIONS,
        "rows": rows,
        "mean_psnr_gain_db": psnr_gain,
        "mean_ssim_gain": dssim,
        "grid_sigma_noise": grid,
        "grid_rows": all_rows,
        "grid_mean_psnr_gain_db": grid_gain,
        "script": "benchmarks/bench_default_models.py",
    }
    if aware:
        default = round(AWARE_DEFAULT_SIGMA_PER_SCALE * s, 3)
        meta["steering"] = {"sigma": default}
        if s in SIGMA_FROM_IMAGE_SCALES:
            meta["steering"]["sigma_from_image"] = True
        from napari_sisr.core.modelio import load_model

        net = load_model(str(model.with_suffix(".json")))  # automatic steering: the card's default
        net.meta["steering"] = meta["steering"]
        summary = (
            f"x{s} super-resolution of single-channel widefield / confocal fluorescence, "
            f"steered by the degradation it is told ({ranges}): a fit (--degradation), typed "
            f"values, the optics, or automatic (noise estimated from the image, PSF from its "
            f"metadata, else "
            + (
                "read from the image by the learned estimator"
                if s in SIGMA_FROM_IMAGE_SCALES
                else f"{default} HR px"
            )
            + ")"
        )
        auto = evaluate(net, data, conditions=grid, steer="auto")
        benchmark["told"] = "the true degradation (the simulation's own parameters)"
        benchmark["grid_rows_auto"] = auto
        benchmark["grid_mean_psnr_gain_db_auto"] = gain(auto)
    if gan:
        content = str(config["init"])  # the content model the adversarial phase refined
        content_rows = evaluate(content, data, conditions=grid)
        summary += (
            f"; refined by an adversarial (GAN) phase from {content}, the content model of the "
            "same network: sharper fine detail at a small PSNR cost (benchmark.held_out)"
        )
        benchmark["content_model"] = {
            "name": content,
            "grid_rows": content_rows,
            "grid_mean_psnr_gain_db": gain(content_rows),
        }
        benchmark["psnr_cost_vs_content_db"] = gain(content_rows) - grid_gain
        for key, rows_ in (("gan", all_rows), ("content", content_rows)):
            benchmark[f"detail_{key}"] = float(np.mean([r["detail_sr"] for r in rows_]))
            benchmark[f"background_std_{key}"] = {
                "mean": float(np.mean([r["bg_std_ratio"] for r in rows_])),
                "max": float(np.max([r["bg_std_ratio"] for r in rows_])),
            }
        benchmark["detail_bicubic"] = float(np.mean([r["detail_bicubic"] for r in all_rows]))
    meta["card"] = {
        **meta.get("card", {}),
        "modalities": MODALITIES,
        "summary": summary,
        "trained_by": "scripts/train_default_models.py (napari-sisr train)",
        "training_commands": stages(run),
        "licence_of_training_data": "CC0 / CC-BY-4.0 / BSD-3 (see the data list)",
    }
    if gan:
        meta["card"]["weights"] = "the generator at the last step of the adversarial phase"
    meta["benchmark"] = {"held_out": benchmark}
    shutil.copy(model.with_suffix(".safetensors"), DEST / f"{name}.safetensors")
    (DEST / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    refresh_cards(data)
    print(
        f"{name}: mean PSNR gain {psnr_gain:+.2f} dB (grid {grid_gain:+.2f} dB), "
        f"SSIM gain {dssim:+.4f}"
        + (f"; grid with estimated parameters {gain(auto):+.2f} dB" if aware else "")
        + (
            f"; {benchmark['psnr_cost_vs_content_db']:.2f} dB below {config['init']}, detail "
            f"{benchmark['detail_gan']:.3f} against {benchmark['detail_content']:.3f}, "
            f"background std {benchmark['background_std_gan']} against "
            f"{benchmark['background_std_content']} (of bicubic's)"
            if gan
            else ""
        )
    )


def main(argv: list[str]) -> int:
    data = REPO.parent / "shared" / "data"
    if argv == ["--card-only"]:
        refresh_cards(data)
        return 0
    DEST.mkdir(parents=True, exist_ok=True)
    for run_root in map(Path, argv):
        for run in sorted(p.parent for p in run_root.glob("*-*x/model.json")):
            bundle(run, data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
