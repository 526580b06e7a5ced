"""``napari-sisr train``: train a super-resolution model from HR images.

Writes ``RUN_DIR/model.safetensors`` + ``RUN_DIR/model.json`` (loadable by ``predict`` and
``load_model``), ``RUN_DIR/checkpoints/``, ``RUN_DIR/log.jsonl`` and ``RUN_DIR/config.json``.
Progress goes to stderr (a tqdm bar and a line per validation); a JSON summary goes to stdout.
"""

from __future__ import annotations

import json
import sys

from ..core.errors import InputError, describe
from ._common import key_values, print_json, progress_printer


def add(sub) -> None:
    from ..core.degradation.params import BLIND_NOISE_STD, BLIND_SIGMA_PER_SCALE
    from ..core.training.config import DEFAULT_SCALE, TrainConfig

    d = {k: f.default for k, f in TrainConfig.model_fields.items()}
    p = sub.add_parser("train", help="train a super-resolution model on HR images")
    p.add_argument(
        "--hr",
        nargs="+",
        metavar="PATH",
        help="HR training images (with --resume, default: those of RUN_DIR/config.json)",
    )
    p.add_argument("-o", "--out", required=True, metavar="RUN_DIR", help="run folder")
    p.add_argument(
        "--scale",
        type=int,
        help=f"scale factor (default: the --degradation's or the --init model's, else "
        f"{DEFAULT_SCALE})",
    )
    p.add_argument("--arch", help="architecture (default srresnet, or the --init model's)")
    p.add_argument("--preset", help="architecture preset (default fast)")
    p.add_argument("--degradation", metavar="PARAMS.json", help="fitted degradation (from 'fit')")
    blind = p.add_argument_group("blind model (ranges sampled per patch; normalised units)")
    lo, hi = BLIND_SIGMA_PER_SCALE
    blind.add_argument(
        "--blind-sigma",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        help=f"PSF sigma, HR px (default {lo} to {hi} x the scale)",
    )
    blind.add_argument(
        "--blind-noise",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="noise std, fraction of the range (default {} to {})".format(*BLIND_NOISE_STD),
    )
    blind.add_argument("--blind-poisson", type=float, nargs=2, metavar=("MIN", "MAX"))
    blind.add_argument(
        "--blind-noise-sampling",
        choices=["uniform", "log"],
        help="draw the noise std uniformly (default) or uniformly in its logarithm",
    )
    blind.add_argument(
        "--blind-content-sigma",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="also blur the HR patch itself by this much (HR px): soft specimens exist",
    )
    blind.add_argument(
        "--blind-content-noise",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="also add noise of this std (fraction of the range) to the HR patch itself: HR "
        "captures have noise of their own",
    )
    p.add_argument("--lr-images", nargs="+", metavar="PATH", help="paired mode: real LR images")
    p.add_argument(
        "--real-lr",
        nargs="+",
        metavar="PATH",
        help="the real LR captures --degradation was fitted on (one per --hr image): part of "
        "the training patches take their LR from them (--real-fraction), the rest is "
        "simulated, and the held-out part is validated, and the best model chosen, on the real "
        "captures. Default: the LR image of a 'napari-sisr fit' JSON whose HR image is the one "
        "--hr gives",
    )
    p.add_argument(
        "--no-real-lr",
        action="store_true",
        help="train on simulations of --degradation only, even when its fit names a real capture",
    )
    p.add_argument(
        "--real-fraction",
        type=float,
        metavar="F",
        help="with --real-lr: train this share of the patches on the real captures "
        "(registered by the fit) instead of simulations (default 0.75; 0: validate on them only)",
    )
    p.add_argument(
        "--val-lr-images", nargs="+", metavar="PATH", help="paired mode: LR of the --val images"
    )
    val = p.add_mutually_exclusive_group()
    val.add_argument("--val", nargs="+", metavar="PATH", help="held-out validation images")
    val.add_argument(
        "--val-fraction", type=float, help=f"hold out this fraction (default {d['val_fraction']})"
    )
    p.add_argument("--iters", type=int, help=f"generator updates (default {d['iters']})")
    p.add_argument("--warmup", type=int, help="content-only steps before the GAN")
    gan = p.add_mutually_exclusive_group()
    gan.add_argument(
        "--gan", action="store_true", help="add the adversarial phase (default on a GPU only)"
    )
    gan.add_argument("--no-gan", action="store_true", help="content losses only (no discriminator)")
    p.add_argument("--patch", type=int, help=f"HR patch size (default {d['patch']})")
    p.add_argument("--batch", type=int, help=f"batch size (default {d['batch']})")
    p.add_argument(
        "--learning-rate",
        "--lr",
        dest="lr",
        type=float,
        help="learning rate (default: the preset's)",
    )
    p.add_argument("--schedule", choices=["step", "cosine", "constant"])
    p.add_argument(
        "--val-every", type=int, help=f"validate every N steps (default {d['val_every']})"
    )
    p.add_argument(
        "--patience",
        type=int,
        metavar="STEPS",
        help="stop a content-only run when its validation PSNR has not improved for STEPS "
        "steps (default: a third of --iters, at least 2 validations; 0: never)",
    )
    p.add_argument(
        "--ema-warmup",
        type=float,
        metavar="W",
        help="the weight average's decay after n steps is min(0.999, (1 + n) / (W + n)): 2 "
        "weighs every step alike, 10 forgets the first ones fast (default: 2 from a trained "
        "model without the GAN phase, else 10)",
    )
    p.add_argument("--checkpoint-every", type=int, help="checkpoint every N steps")
    p.add_argument(
        "--export",
        choices=["best", "last"],
        help="model.* = best validation PSNR (default; with the GAN phase, the best of that "
        "phase) or last",
    )
    p.add_argument(
        "--arch-option",
        action="append",
        metavar="KEY=VALUE",
        help="override one generator setting of the preset, e.g. n_blocks=8 or skip=bicubic "
        "(repeatable; VALUE is read as JSON when it parses, else as text)",
    )
    p.add_argument(
        "--loss",
        action="append",
        metavar="KEY=WEIGHT",
        help="override one loss weight of the preset, e.g. pixel_mse=1 or pixel_l1=0 "
        "(repeatable; 0 switches a term off; unknown keys are refused with the list)",
    )
    p.add_argument(
        "--normalise-by",
        choices=["lr", "hr"],
        help="map HR planes so that their simulated LR spans the percentiles, as inference "
        "maps a real capture (lr, default), or by the HR planes' own percentiles (hr: models "
        "trained before this option)",
    )
    p.add_argument("--in-channels", type=int, help="model channels (default 1)")
    p.add_argument("--channel-axis", type=int, help="channel axis of multichannel images")
    p.add_argument(
        "--init",
        metavar="MODEL",
        help="start from this model (path or bundled name; with a larger --scale, an SRResNet "
        "model starts the larger network: --init default-4x --scale 8); 'none': random "
        "weights; default: the bundled model of the scale when the run trains its network "
        "(single-channel SRResNet, default preset and options), else none",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in RUN_DIR")
    p.add_argument("--device", help=f"auto, cpu, cuda, cuda:1 or mps (default {d['device']})")
    p.add_argument("--seed", type=int, help=f"random seed (default {d['seed']})")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: every core)")
    p.add_argument(
        "--require-better",
        action="store_true",
        help="exit with code 3 when the model is worse than bicubic on validation (it is "
        "saved either way)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(run=run)


def build_config(args):
    """The :class:`TrainConfig` described by the parsed arguments (validation errors are
    raised as they are; the command line prints them field by field)."""
    from ..core.degradation.params import DegradationParams

    fields = {
        "hr": args.hr,
        "out": args.out,
        "scale": args.scale,
        "arch": args.arch,
        "preset": args.preset,
        "lr_images": args.lr_images,
        "real_lr": args.real_lr,
        "real_fraction": args.real_fraction,
        "val": args.val,
        "val_lr_images": args.val_lr_images,
        "checkpoint_every": args.checkpoint_every,
        "export": args.export,
        "val_fraction": args.val_fraction,
        "iters": args.iters,
        "warmup": args.warmup,
        "patch": args.patch,
        "batch": args.batch,
        "learning_rate": args.lr,
        "schedule": args.schedule,
        "val_every": args.val_every,
        "patience": args.patience,
        "ema_warmup": args.ema_warmup,
        "in_channels": args.in_channels,
        "channel_axis": args.channel_axis,
        "init": args.init,
        "device": args.device,
        "threads": args.threads,
        "normalise_by": args.normalise_by,
        "seed": args.seed,
        "resume": args.resume,
        "overwrite": args.overwrite,
    }
    if args.arch_option:
        fields["arch_overrides"] = key_values(args.arch_option, "--arch-option")
    if args.loss:
        fields["loss_weights"] = key_values(args.loss, "--loss", numbers=True)
    if args.no_gan or args.gan:
        fields["adversarial"] = bool(args.gan)
    if args.degradation:
        fields["degradation"] = DegradationParams.load(args.degradation)
        if args.real_lr is None and not args.no_real_lr and not args.lr_images:
            fields["real_lr"] = fitted_capture(fields["degradation"], args.hr)
    elif args.no_real_lr:
        raise InputError("--no-real-lr goes with --degradation")
    blind = _blind_ranges(args)
    if blind is not None:
        fields["blind"] = blind
    given = {k: v for k, v in fields.items() if v is not None}
    if args.init is not None and args.init.lower() == "none":
        given["init"] = None  # random weights
    if args.resume:
        given = _resumed(args.out, given)
    if not given.get("hr"):
        raise InputError("give the HR training images with --hr")
    return _validated(given, bool(args.arch_option))


def _resumed(out: str, given: dict) -> dict:
    """The saved settings of the run in ``out`` with the flags given laid over them; a
    degradation given replaces saved blind ranges and the other way round."""
    from ..core.training.config import TrainConfig
    from ..core.training.loop import check_run_dir

    check_run_dir(out, resume=True)  # before asking for anything else
    merged = {**_saved_fields(out, TrainConfig), **given}
    if "degradation" in given or "blind" in given:
        merged.pop("blind" if "degradation" in given else "degradation", None)
    return merged


def _blind_ranges(args):
    """The blind ranges given by the ``--blind-*`` flags (None when none is)."""
    from ..core.degradation.params import DegradationRange

    flags = {
        "sigma": args.blind_sigma,
        "noise_std": args.blind_noise,
        "poisson_a": args.blind_poisson,
        "noise_sampling": args.blind_noise_sampling,
        "content_sigma": args.blind_content_sigma,
        "content_noise": args.blind_content_noise,
    }
    if all(v is None for v in flags.values()):
        return None
    ranges = {k: v if k == "noise_sampling" else tuple(v) for k, v in flags.items() if v}
    return DegradationRange(**ranges)


def _validated(given: dict, arch_options: bool):
    """The :class:`TrainConfig` of ``given``; a setting out of range is named by its flag."""
    from pydantic import ValidationError

    from ..core.training.config import TrainConfig

    try:
        return TrainConfig(**given)
    except (ValidationError, InputError) as err:
        text = _flags(describe(err))
        if arch_options and " setting " in text and "--arch-option" not in text:
            text += " (given with --arch-option)"
        raise InputError(text) from None


#: Settings whose command-line flag is not ``--`` plus the setting's name with dashes.
_FLAGS = {
    "arch_overrides": "--arch-option",
    "loss_weights": "--loss",
    "blind": "--blind-*",
    "learning_rate": "--learning-rate",
    "iters": "--iters",
}


def _flags(text: str) -> str:
    """A validation message with each setting named by its flag (``arch_overrides: ...`` ->
    ``--arch-option: ...``), so the user knows which option to change."""
    import re

    def flag(m):
        name = m.group(1)
        return _FLAGS.get(name, "--" + name.replace("_", "-")) + ":"

    from ..core.training.config import TrainConfig

    settings = set(TrainConfig.model_fields)
    return re.sub(
        r"\b([a-z_]+):", lambda m: flag(m) if m.group(1) in settings else m.group(0), text
    )


def fitted_capture(params, hr: list[str] | None) -> list[str] | None:
    """The real LR capture a ``napari-sisr fit`` JSON was fitted on, as ``real_lr``, when the
    run trains on exactly that fit's HR image (same file) and the capture is still there."""
    from pathlib import Path

    pair = params.notes.get("pair") if isinstance(params.notes, dict) else None
    if not isinstance(pair, dict) or not hr or len(hr) != 1 or "channel" in pair:
        return None
    try:
        same = Path(hr[0]).resolve() == Path(str(pair.get("hr"))).resolve()
    except (OSError, ValueError):
        return None
    lr = Path(str(pair.get("lr", "")))
    if not same or not lr.is_file():
        return None
    print(
        f"training also on the real capture the fit was made on ({lr}); --no-real-lr to "
        "train on simulations only",
        file=sys.stderr,
    )
    return [str(lr)]


#: Settings renamed since runs were saved: old name -> new (learning rate, not low resolution).
RENAMED = {"lr": "learning_rate", "lr_d": "learning_rate_d"}


def _saved_fields(out: str, config_cls) -> dict:
    """Settings of the run in ``out`` (its config.json), for ``--resume`` without repeating them.

    Image sources are reused only when they are files that still exist.
    """
    from pathlib import Path

    path = Path(out) / "config.json"
    if not path.is_file():
        return {}
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}
    # vgg_weights: a path to pickled weights is never taken from a file a resume reads
    skip = {"version", "resume", "overwrite", "out", "vgg_weights"}
    saved = {RENAMED.get(k, k): v for k, v in saved.items()}  # a run saved before a rename
    fields = {k: v for k, v in saved.items() if k in config_cls.model_fields and k not in skip}
    for key, items in saved.get("sources", {}).items():
        if items and all(Path(i).is_file() for i in items):
            fields[key] = items
    # None is a setting too (init: random weights, not a bundled model; ema, grad_clip: off):
    # the run resumes with its own, not with the defaults
    if "ema_warmup" not in saved:  # saved before the setting: every run averaged so
        from ..core.training.schedule import EMA_WARMUP_FROM_RANDOM

        fields["ema_warmup"] = EMA_WARMUP_FROM_RANDOM
    return fields


def run(args) -> int:
    from ..core.training import CheckpointError, TrainingDiverged, train

    config = build_config(args)
    if args.init is None and config.init is not None and not args.resume:
        print(
            f"starting from the bundled model {config.init} (--init none: random weights)",
            file=sys.stderr,
        )
    try:
        result = train(config, progress=progress_printer(args.quiet))
    except (TrainingDiverged, CheckpointError) as err:
        raise InputError(str(err)) from None
    summary = {
        "model": str(result.model),
        "run_dir": str(result.run_dir),
        "steps": result.steps,
        "stopped": result.stopped,
        "stopped_early": result.stopped_early,
        "val": result.metrics,
        "best_val": result.best_metrics,
        "split": result.split,
        "worse_than_bicubic": result.worse_than_bicubic,
        **result.timing,
    }
    print_json(summary)
    if result.stopped_early:
        print(
            f"stopped early at step {result.steps} of {config.iters}: no better validation PSNR "
            f"for {config.patience} steps; the best model is exported (--patience 0: never)",
            file=sys.stderr,
        )
    if not args.quiet:
        print(
            f"next: napari-sisr predict IMAGE -o OUT --model {result.model} (add --ensemble "
            "for a little more accuracy at 8x the compute)",
            file=sys.stderr,
        )
    if result.worse_than_bicubic:
        from ..core.training.loop import WORSE_THAN_BICUBIC

        best = result.best_metrics
        print(
            f"napari-sisr train: warning: the model is {WORSE_THAN_BICUBIC} (validation PSNR "
            f"{best['psnr']:.2f} dB, bicubic {best['psnr_bicubic']:.2f} dB)",
            file=sys.stderr,
        )
        return 3 if args.require_better else 0
    return 0
