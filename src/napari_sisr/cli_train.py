"""``napari-sisr train``: train a super-resolution model from HR images.

Writes ``RUN_DIR/model.safetensors`` + ``RUN_DIR/model.json`` (loadable by ``predict`` and
``load_model``), ``RUN_DIR/checkpoints/``, ``RUN_DIR/log.jsonl`` and ``RUN_DIR/config.json``.
Progress goes to stderr (a tqdm bar and a line per validation); a JSON summary goes to stdout.
"""

from __future__ import annotations

import json
import sys


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train a super-resolution model on HR images")
    p.add_argument(
        "--hr",
        nargs="+",
        metavar="PATH",
        help="HR training images (with --resume, default: those of RUN_DIR/config.json)",
    )
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder")
    p.add_argument("--scale", type=int, help="scale factor (default 4, or the --init model's)")
    p.add_argument("--arch", help="architecture (default srresnet, or the --init model's)")
    p.add_argument("--preset", help="architecture preset (default fast)")
    p.add_argument("--degradation", metavar="PARAMS.json", help="fitted degradation (from 'fit')")
    blind = p.add_argument_group("blind model (ranges sampled per patch; normalised units)")
    blind.add_argument("--blind-sigma", type=float, nargs=2, metavar=("MIN", "MAX"))
    blind.add_argument(
        "--blind-noise", type=float, nargs=2, metavar=("MIN", "MAX"), help="std, fraction of range"
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
    p.add_argument("--lr-images", nargs="+", metavar="PATH", help="paired mode: real LR images")
    p.add_argument(
        "--val-lr-images", nargs="+", metavar="PATH", help="paired mode: LR of the --val images"
    )
    val = p.add_mutually_exclusive_group()
    val.add_argument("--val", nargs="+", metavar="PATH", help="held-out validation images")
    val.add_argument("--val-fraction", type=float, help="hold out this fraction (default 0.2)")
    p.add_argument("--iters", type=int, help="generator updates (default 10000)")
    p.add_argument("--warmup", type=int, help="content-only steps before the GAN")
    p.add_argument("--no-gan", action="store_true", help="content losses only (no discriminator)")
    p.add_argument("--patch", type=int, help="HR patch size (default 128)")
    p.add_argument("--batch", type=int, help="batch size (default 8)")
    p.add_argument("--lr", type=float, help="learning rate (default: the preset's)")
    p.add_argument("--schedule", choices=["step", "cosine", "constant"])
    p.add_argument("--val-every", type=int, help="validate every N steps (default 500)")
    p.add_argument("--checkpoint-every", type=int, help="checkpoint every N steps")
    p.add_argument(
        "--export",
        choices=["best", "last"],
        help="model.* = best validation PSNR (default) or last",
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
    p.add_argument("--in-channels", type=int, help="model channels (default 1)")
    p.add_argument("--channel-axis", type=int, help="channel axis of multichannel images")
    p.add_argument("--init", metavar="MODEL", help="fine-tune this model (path or bundled name)")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in RUN_DIR")
    p.add_argument("--device", help="cpu, cuda, cuda:1 or auto (default cpu)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(run=run_train)


def build_config(args):
    """The :class:`TrainConfig` described by the parsed arguments."""
    from pydantic import ValidationError

    from .cli import UserError
    from .core.config import DegradationParams
    from .core.train_config import DegradationRange, TrainConfig

    fields = {
        "hr": args.hr,
        "out": args.out,
        "scale": args.scale,
        "arch": args.arch,
        "preset": args.preset,
        "lr_images": args.lr_images,
        "val": args.val,
        "val_lr_images": args.val_lr_images,
        "checkpoint_every": args.checkpoint_every,
        "export": args.export,
        "val_fraction": args.val_fraction,
        "iters": args.iters,
        "warmup": args.warmup,
        "patch": args.patch,
        "batch": args.batch,
        "lr": args.lr,
        "schedule": args.schedule,
        "val_every": args.val_every,
        "in_channels": args.in_channels,
        "channel_axis": args.channel_axis,
        "init": args.init,
        "device": args.device,
        "seed": args.seed,
        "resume": args.resume,
        "overwrite": args.overwrite,
    }
    if args.arch_option:
        fields["arch_overrides"] = _key_values(args.arch_option, "--arch-option")
    if args.loss:
        fields["loss_weights"] = _key_values(args.loss, "--loss")
    if args.no_gan:
        fields["adversarial"] = False
    if args.degradation:
        fields["degradation"] = DegradationParams.load(args.degradation)
    blind_given = (
        args.blind_sigma,
        args.blind_noise,
        args.blind_poisson,
        args.blind_noise_sampling,
        args.blind_content_sigma,
    )
    if any(v is not None for v in blind_given):
        scale = args.scale or fields.get("degradation") and fields["degradation"].scale or 4
        ranges = {"scale": scale}
        if args.blind_sigma:
            ranges["sigma"] = tuple(args.blind_sigma)
        if args.blind_noise:
            ranges["noise_std"] = tuple(args.blind_noise)
        if args.blind_poisson:
            ranges["poisson_a"] = tuple(args.blind_poisson)
        if args.blind_noise_sampling:
            ranges["noise_sampling"] = args.blind_noise_sampling
        if args.blind_content_sigma:
            ranges["content_sigma"] = tuple(args.blind_content_sigma)
        fields["blind"] = DegradationRange(**ranges)
    given = {k: v for k, v in fields.items() if v is not None}
    if args.resume:
        given = {**_saved_fields(args.out, TrainConfig), **given}
        if "degradation" in fields or "blind" in fields:
            given.pop("blind" if "degradation" in fields else "degradation", None)
    if not given.get("hr"):
        raise UserError("give the HR training images with --hr")
    try:
        return TrainConfig(**given)
    except ValidationError as err:
        msgs = []
        for e in err.errors():
            loc = ".".join(str(x) for x in e["loc"])
            msgs.append(f"{loc}: {e['msg']}" if loc else e["msg"])
        raise UserError("; ".join(m.replace("Value error, ", "") for m in msgs)) from None


def _key_values(items: list[str], flag: str) -> dict:
    """``["n_blocks=8", "skip=bicubic"]`` -> ``{"n_blocks": 8, "skip": "bicubic"}`` (``flag``
    names the option in errors)."""
    from .cli import UserError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{flag} expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


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
    skip = {"version", "resume", "overwrite", "out"}
    fields = {k: v for k, v in saved.items() if k in config_cls.model_fields and k not in skip}
    for key, items in saved.get("sources", {}).items():
        if items and all(Path(i).is_file() for i in items):
            fields[key] = items
    return {k: v for k, v in fields.items() if v is not None}


def _printer(quiet: bool):
    if quiet:
        return lambda update: None
    from tqdm import tqdm

    state: dict = {}

    def callback(update) -> None:
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = tqdm(total=update.total, file=sys.stderr, unit="step")
        bar.n = update.done
        losses = update.data.get("losses", {})
        if losses:
            shown = {k: f"{v:.4g}" for k, v in losses.items() if k.startswith("l_")}
            bar.set_postfix(shown, refresh=False)
        bar.refresh()
        val = update.data.get("val")
        if val:
            bar.write(
                f"step {update.done}: val PSNR {val['psnr']:.2f} dB (bicubic "
                f"{val['psnr_bicubic']:.2f}), SSIM {val['ssim']:.4f} (bicubic "
                f"{val['ssim_bicubic']:.4f}); "
                + ", ".join(f"{k} {v:.4g}" for k, v in losses.items()),
                file=sys.stderr,
            )
        if update.done >= update.total:
            bar.close()

    return callback


def run_train(args) -> int:
    from .cli import UserError
    from .core.training import CheckpointError, TrainingDiverged, train

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    config = build_config(args)
    try:
        result = train(config, progress=_printer(args.quiet))
    except (TrainingDiverged, CheckpointError) as err:
        raise UserError(str(err)) from None
    summary = {
        "model": str(result.model),
        "run_dir": str(result.run_dir),
        "steps": result.steps,
        "stopped": result.stopped,
        "val": result.metrics,
        "best_val": result.best_metrics,
        "split": result.split,
        **result.timing,
    }
    print(json.dumps(summary))
    return 0
