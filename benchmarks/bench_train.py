"""Training benchmarks: quality within a time budget, and throughput.

Quality: train on some real fluorescence images, validate on OTHER real images (held out by
image), 4x, LR simulated with a realistic degradation (Gaussian PSF sigma 2.0 HR px, Gaussian
noise std 2 % of the normalised range); prints mean PSNR / SSIM of the model and of bicubic
upsampling on the held-out images, and how many steps fitted in the budget. The whole budget
(pilot timing, training and validation) is wall-clock time on this machine.

Throughput: steps per second and the fraction of each step spent outside the networks'
forward/backward passes (patch sampling, augmentation, LR simulation, transfers).

    python benchmarks/bench_train.py quality --minutes 15 --arch srresnet --preset fast
    python benchmarks/bench_train.py throughput --arch srresnet --steps 40
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("NAPARI_SISR_DATA", REPO.parent / "shared" / "data"))
if not DATA.exists():
    DATA = Path("/work/shared/data")

TRAIN_FILES = [
    ("fluorescence_2d/BPAE_actin.tif", None),
    ("fluorescence_2d/BPAE_mito.tif", None),
    ("fluorescence_2d/BPAE_nuclei.tif", None),
    ("fluorescence_2d/bbbc022_IXMtest_A02_s9.tif", 0),
    ("timelapse/membrane_tyx.tif", None),
]
VAL_FILES = [
    ("fluorescence_2d/hela_cells_rgb16.tif", -1),
    ("fluorescence_2d/nuclei_dsb2018.tif", None),
]


def _read(rel: str, channel_axis: int | None) -> list[np.ndarray]:
    """Planes of a file as separate 2D images (channels and frames become images)."""
    import tifffile

    arr = tifffile.imread(DATA / rel).astype(np.float32)
    if channel_axis is not None:
        arr = np.moveaxis(arr, channel_axis, 0)
    return [p for p in arr.reshape((-1,) + arr.shape[-2:])]


def _images(files):
    out = []
    for rel, ax in files:
        out.extend(_read(rel, ax))
    return out


def _config(args, out: Path, iters: int, **extra):
    from napari_sisr import TrainConfig
    from napari_sisr.core.training.config import DegradationRange

    kw = dict(
        hr=_images(TRAIN_FILES),
        val=_images(VAL_FILES),
        out=out,
        scale=4,
        arch=args.arch,
        preset=args.preset,
        patch=args.patch,
        batch=args.batch,
        iters=iters,
        blind=(
            DegradationRange(scale=4, sigma=(1.0, 3.0), noise_std=(0.0, 0.05))
            if args.blind
            else DegradationRange(scale=4, sigma=(2.0, 2.0), noise_std=(0.02, 0.02))
        ),
        val_max_size=args.val_size,
        seed=args.seed,
        overwrite=True,
        init=None,  # the engine from random weights, as its presets were measured
        patience=0,  # the whole time budget, as its presets were measured
    )
    if args.lr:
        kw["lr"] = args.lr
    if args.no_gan:
        kw["adversarial"] = False
    kw.update(extra)
    return TrainConfig(**kw)


def quality(args) -> None:
    from napari_sisr.core.progress import run_to_end
    from napari_sisr.core.training import Trainer, iter_train

    budget = args.minutes * 60.0
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    # Pilot: time a few steps of each phase to size the schedule to the budget.
    pilot = Trainer(_config(args, tmp / "pilot", 1000, warmup=args.pilot))
    for _ in range(args.pilot):
        pilot.train_step()
    t_content = pilot.time_total / args.pilot
    t_adv = 0.0
    if pilot.net_d is not None:
        pilot.time_total = 0.0
        for _ in range(args.pilot):
            pilot.train_step()
        t_adv = pilot.time_total / args.pilot
    tv = time.perf_counter()
    pilot.validate()
    t_val = time.perf_counter() - tv
    del pilot
    remaining = budget - (time.perf_counter() - t0)
    n_val = 4
    train_time = (remaining - (n_val + 2) * t_val - 20.0) * 0.95
    frac_adv = 0.0 if args.no_gan else args.adv_fraction
    per_step = (1 - frac_adv) * t_content + frac_adv * (t_adv or t_content)
    # The machine is shared, so the pilot's rate is uncertain: plan 25 % more steps than it
    # predicts and stop at the deadline (the model is exported when stopped).
    expected = max(10, int(train_time / per_step))
    iters = int(1.25 * expected)
    warmup = int(expected * (1 - frac_adv)) if frac_adv else 0
    print(
        f"pilot: {t_content:.3f} s/step content, {t_adv:.3f} s/step adversarial, "
        f"{t_val:.1f} s per validation -> {iters} steps ({warmup} content-only)",
        flush=True,
    )
    cfg = _config(args, tmp / "run", iters, warmup=warmup, val_every=max(1, iters // n_val))
    deadline = t0 + budget - t_val - 5.0

    scored = []  # every validation: "best" is the highest of them, whichever the phase

    def on_update(update):
        val = update.val.as_dict() if getattr(update, "val", None) else None
        if val:
            scored.append(val)
            print(
                f"  step {update.done}/{update.total} [{time.perf_counter() - t0:.0f} s] "
                f"PSNR {val['psnr']:.2f} (bicubic {val['psnr_bicubic']:.2f}) "
                f"SSIM {val['ssim']:.4f} (bicubic {val['ssim_bicubic']:.4f})",
                flush=True,
            )

    result = run_to_end(iter_train(cfg, stop=lambda: time.perf_counter() > deadline), on_update)
    total = time.perf_counter() - t0
    last = result.metrics
    best = max([*scored, last], key=lambda m: m["psnr"])
    print()
    print(f"## Quality: {args.arch} / {args.preset}, 4x, sigma 2.0 HR px, noise 2 % of range")
    print(f"train images: {len(cfg.hr)} planes from {', '.join(f for f, _ in TRAIN_FILES)}")
    print(f"held-out images: {last['n_images']} planes from {', '.join(f for f, _ in VAL_FILES)}")
    print(
        f"budget {args.minutes:.1f} min, used {total / 60:.1f} min; steps {result.steps} of "
        f"{iters} planned (stopped early: {result.stopped}); patch {args.patch}, batch "
        f"{args.batch}, threads {args.threads}"
    )
    print()
    print("| weights | step | PSNR SR | PSNR bicubic | gain dB | SSIM SR | SSIM bicubic |")
    print("|---|---|---|---|---|---|---|")
    for name, m in (("last", last), ("best", best)):
        print(
            f"| {name} | {m['step']} | {m['psnr']:.2f} | {m['psnr_bicubic']:.2f} | "
            f"{m['psnr'] - m['psnr_bicubic']:+.2f} | {m['ssim']:.4f} | {m['ssim_bicubic']:.4f} |"
        )
    print(
        f"\nthroughput: {result.timing['steps_per_s']:.2f} steps/s, "
        f"data fraction {result.timing['data_fraction']:.1%}; run folder {result.run_dir}"
    )


def throughput(args) -> None:
    from napari_sisr.core.training import Trainer

    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    deg = "blind: sigma 1-3 px, noise 0-5 % per patch" if args.blind else "sigma 2, noise 2 %"
    print(
        f"## Throughput: {args.arch} / {args.preset}, patch {args.patch}, batch {args.batch}, "
        f"threads {args.threads}, {deg}"
    )
    print("| phase | steps | steps/s | data fraction |")
    print("|---|---|---|---|")
    for phase, warmup in (("content", args.steps + 1), ("adversarial", 0)):
        if phase == "adversarial" and args.no_gan:
            continue
        trainer = Trainer(_config(args, tmp / phase, 1000, warmup=warmup))
        for _ in range(3):  # warm-up of the allocator and kernels
            trainer.train_step()
        trainer.time_data = trainer.time_total = 0.0
        for _ in range(args.steps):
            trainer.train_step()
        rate = args.steps / trainer.time_total
        frac = trainer.time_data / trainer.time_total
        print(f"| {phase} | {args.steps} | {rate:.2f} | {frac:.1%} |", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("mode", choices=["quality", "throughput"])
    p.add_argument("--arch", default="srresnet")
    p.add_argument("--preset", default="fast")
    p.add_argument("--minutes", type=float, default=15.0, help="quality: wall-clock budget")
    p.add_argument("--steps", type=int, default=30, help="throughput: timed steps per phase")
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--no-gan", action="store_true")
    p.add_argument(
        "--blind", action="store_true", help="sample sigma 1-3 px, noise 0-5 %% per patch"
    )
    p.add_argument("--adv-fraction", type=float, default=0.2, help="share of steps with the GAN")
    p.add_argument("--pilot", type=int, default=8)
    p.add_argument("--val-size", type=int, default=384)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: shared CPU)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    (quality if args.mode == "quality" else throughput)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
