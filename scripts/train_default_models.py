r"""Train the bundled default models with this project's own ``napari-sisr train``.

Reproduce the bundled models (default-2x: one stage with 4 residual blocks on a CPU;
default-4x: two stages with 16 blocks of 32 features on a GPU, hours without one), then measure
them and copy them into the package::

    OPTS="--poisson 0 0.001 --content-sigma 0 3 --arch-option skip=bicubic"
    python scripts/train_default_models.py --out runs/defaults --scales 2 --iters 4000 $OPTS
    B16="--scales 4 --arch-option n_blocks=16 --arch-option nf=32 --batch 64 --device cuda"
    python scripts/train_default_models.py --out runs/b16 --iters 7000 $B16 $OPTS
    python scripts/train_default_models.py --out runs/b16-ft --init runs/b16 \
        --lr 3e-4 --iters 11250 $B16 $OPTS
    python scripts/bundle_default_models.py runs/defaults runs/b16-ft

The degradation-aware ``aware-2x`` (8 blocks of 32 features, from random weights, two
stages on a GPU; the same commands run on a CPU without ``--device cuda``, more slowly)::

    DA="--name da --scales 2 --arch srresnet_da --sigma-per-scale 0 2.5 --noise 0 0.1 \
        --poisson 0 0.001 --content-sigma 0 3 --content-noise 0 0.05 --batch 32 \
        --val-every 500 --device cuda --threads 4 --arch-option n_blocks=8 \
        --arch-option nf=32 --arch-option skip=bicubic"
    python scripts/train_default_models.py --out runs/gpu/g2b $DA --init-bundled none \
        --iters 14750 --lr 1e-3
    python scripts/train_default_models.py --out runs/gpu2/h2 $DA --init runs/gpu/g2b \
        --iters 11250 --lr 3e-4
    python scripts/bundle_default_models.py runs/gpu2/h2

The training images are real, redistributable fluorescence images (never the GPL pair); the
images that ``benchmarks/bench_default_models.py`` measures the shipped models on
(its ``HELD_OUT``) are not among them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

#: (file, how to split it into 2D single-channel planes)
TRAIN = [
    ("fluorescence_2d/BPAE_mito.tif", "2d"),
    ("fluorescence_2d/BPAE_nuclei.tif", "2d"),
    ("fluorescence_2d/bbbc022_IXMtest_A02_s9.tif", "channels_first"),
    ("fluorescence_2d/hela_cells_rgb16.tif", "channels_last"),
    ("fluorescence_2d/maize_clsm.tif", "2d"),
    ("timelapse/membrane_tyx.tif", "planes:0,2,4"),
    ("timelapse/cancer_cell_migration_tyx.tif", "planes:0,16,32,47"),
]
#: More real structure (``--more-data``): confocal cell walls and sub-resolution beads.
MORE = [
    ("stack_3d/arabidopsis_embryo_zyx.tif", "planes:20,40,60,80"),
    ("stack_3d/beads_zyx.tif", "planes:22,24,26"),
]
#: Validation during training (held out from the gradient, used to keep the best model).
VAL = [("timelapse/membrane_tyx.tif", "planes:1")]
DEGRADATION = {
    "blind_sigma": (1.0, 3.0),
    "blind_noise": (0.005, 0.05),
    "blind_poisson": (0.0, 0.01),
}


def planes(path: Path, how: str) -> list[np.ndarray]:
    from napari_sisr.core.io.images import read_image

    arr = read_image(path)
    if how == "2d":
        return [arr]
    if how == "channels_first":
        return list(arr)
    if how == "channels_last":
        return [arr[..., c] for c in range(arr.shape[-1])]
    if how.startswith("planes:"):
        return [arr[int(i)] for i in how.split(":")[1].split(",")]
    raise ValueError(how)


def export(entries, data: Path, out: Path) -> list[str]:
    import tifffile

    out.mkdir(parents=True, exist_ok=True)
    files = []
    for rel, how in entries:
        for k, plane in enumerate(planes(data / rel, how)):
            name = out / f"{Path(rel).stem}_{k}.tif"
            tifffile.imwrite(name, np.ascontiguousarray(plane))
            files.append(str(name))
    return files


def main() -> int:
    from napari_sisr.core.training.schedule import EMA_WARMUP_FROM_RANDOM

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--out", default="runs/defaults")
    ap.add_argument("--scales", type=int, nargs="+", default=[4, 2])
    ap.add_argument("--iters", type=int, default=3000)
    ap.add_argument("--arch", default="srresnet")
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto (passed to train)")
    ap.add_argument("--lr", default="1e-3")
    ap.add_argument("--val-every", default="250", help="validate (and keep the best) every N steps")
    ap.add_argument(
        "--init", help="continue from this folder's <name>-<s>x/model.json (a later stage)"
    )
    ap.add_argument(
        "--init-bundled",
        nargs="?",
        const="default-{s}x",
        metavar="NAME",
        help="start from a bundled model, default-<s>x when no name is given (a "
        "degradation-aware srresnet_da grows from the plain srresnet of the same trunk); "
        "{s} in NAME is the scale, e.g. aware-{s}x; 'none': random weights",
    )
    ap.add_argument(
        "--gan",
        action="store_true",
        help="adversarial training from the first step (a GAN refinement of --init / "
        "--init-bundled; content losses only otherwise)",
    )
    ap.add_argument(
        "--sigma-per-scale",
        nargs=2,
        type=float,
        metavar=("MIN", "MAX"),
        help="PSF range as multiples of the scale (HR px), e.g. 0 1.5: 0-6 at 4x, 0-3 at 2x "
        f"(default {DEGRADATION['blind_sigma']} HR px at every scale)",
    )
    ap.add_argument(
        "--noise",
        nargs=2,
        type=float,
        default=DEGRADATION["blind_noise"],
        metavar=("MIN", "MAX"),
        help="Gaussian noise std range, fraction of the intensity range",
    )
    ap.add_argument(
        "--name", default="default", help="run folder name prefix (<name>-<s>x under --out)"
    )
    ap.add_argument(
        "--resume", action="store_true", help="continue the runs in --out from their checkpoints"
    )
    ap.add_argument("--seed", default="0")
    ap.add_argument(
        "--arch-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="generator setting passed to napari-sisr train (repeatable)",
    )
    ap.add_argument(
        "--loss",
        action="append",
        default=[],
        metavar="KEY=WEIGHT",
        help="loss weight passed to napari-sisr train (repeatable)",
    )
    ap.add_argument("--batch", default="8")
    ap.add_argument(
        "--poisson",
        nargs=2,
        type=float,
        default=DEGRADATION["blind_poisson"],
        metavar=("MIN", "MAX"),
        help="Poisson gain range (normalised units); 0 0 for Gaussian noise only",
    )
    ap.add_argument("--noise-sampling", choices=["uniform", "log"], default="uniform")
    ap.add_argument(
        "--content-sigma",
        nargs=2,
        type=float,
        metavar=("MIN", "MAX"),
        help="blur range of the HR patches themselves (soft specimens), HR px",
    )
    ap.add_argument(
        "--content-noise",
        nargs=2,
        type=float,
        metavar=("MIN", "MAX"),
        help="noise std range of the HR patches themselves (the HR capture's own noise), "
        "fraction of the range",
    )
    ap.add_argument(
        "--more-data", action="store_true", help="also train on the MORE images (z-stack planes)"
    )
    ap.add_argument("--patch-lr", type=int, default=24, help="LR patch size (HR = s x this)")
    args = ap.parse_args()
    data, out = Path(args.data), Path(args.out)
    for s in args.scales:
        entries = TRAIN + MORE if args.more_data else TRAIN
        train = export(entries, data, out / f"planes-{s}x" / "train")
        val = export(VAL, data, out / f"planes-{s}x" / "val")
        sigma = DEGRADATION["blind_sigma"]
        if args.sigma_per_scale:
            sigma = tuple(round(f * s, 6) for f in args.sigma_per_scale)
        cmd = [
            sys.executable,
            "-m",
            "napari_sisr.cli",
            "train",
            "--hr",
            *train,
            "--val",
            *val,
            "--scale",
            str(s),
            "--arch",
            args.arch,
            "--preset",
            args.preset,
            "--iters",
            str(args.iters),
            "--patch",
            str(args.patch_lr * s),
            "--batch",
            args.batch,
            "--lr",
            args.lr,
            "--schedule",
            "cosine",
            # a GAN run exports its last generator: the best by PSNR is the content model
            *(["--gan", "--warmup", "0", "--export", "last"] if args.gan else ["--no-gan"]),
            "--val-every",
            args.val_every,
            # the bundled models were trained to the end of their budget (reproducible runs)
            "--patience",
            "0",
            # the bundled models' weight average, later stages (--init) included
            "--ema-warmup",
            f"{EMA_WARMUP_FROM_RANDOM:g}",
            "--seed",
            args.seed,
            "--out",
            str(out / f"{args.name}-{s}x"),
            "--blind-sigma",
            *map(str, sigma),
            "--blind-noise",
            *map(str, args.noise),
            "--blind-poisson",
            *map(str, args.poisson),
            "--resume" if args.resume else "--overwrite",
        ]
        if args.noise_sampling != "uniform":
            cmd += ["--blind-noise-sampling", args.noise_sampling]
        if args.content_sigma:
            cmd += ["--blind-content-sigma", *map(str, args.content_sigma)]
        if args.content_noise:
            cmd += ["--blind-content-noise", *map(str, args.content_noise)]
        if args.init:
            cmd += ["--init", str(Path(args.init) / f"{args.name}-{s}x" / "model.json")]
        elif args.init_bundled:
            cmd += ["--init", args.init_bundled.format(s=s)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        cmd += ["--device", args.device]
        for opt in args.arch_option:
            cmd += ["--arch-option", opt]
        for opt in args.loss:
            cmd += ["--loss", opt]
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        (out / f"{args.name}-{s}x" / "command.json").write_text(json.dumps(cmd[1:], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
