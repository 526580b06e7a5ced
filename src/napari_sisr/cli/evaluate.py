"""``napari-sisr evaluate``: score a model or a super-resolved image on a real LR/HR pair."""

from __future__ import annotations

import sys
from pathlib import Path

from ..core.errors import InputError
from ._common import add_pair_args, pair_paths, print_json, read_pair

MODEL_SUFFIXES = (".json", ".safetensors")


def add(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a model or an SR image against a real HR capture, beside bicubic and "
        "Richardson-Lucy",
        description=(
            "Register every output to the HR image (the sub-pixel shift of the bicubic "
            "upsampling), match each by its own least-squares gain and offset, leave out a "
            "border of 4 x scale HR px and print PSNR / SSIM of nearest, bicubic, bicubic + "
            "Richardson-Lucy (PSF fitted on the pair) and the model or image given. The table "
            "goes to stderr, one JSON line to stdout. When the model was trained on this pair "
            "(its training record holds the HR image, or the LR capture it trained on), a "
            "warning says which part, and the part held out from training is scored apart "
            "('training_overlap' and 'held_out' in the JSON line)."
        ),
    )
    p.add_argument(
        "candidate",
        metavar="SR_OR_MODEL",
        help="a super-resolved image of LR (HR grid), or a model (bundled name, model .json, "
        ".safetensors or run folder)",
    )
    add_pair_args(p, ("lr", "hr"))
    p.add_argument("--scale", type=int, required=True, help="integer scale between the grids")
    p.add_argument("--channel", type=int, help="use this channel instead of the luminance")
    p.add_argument(
        "--sigma", type=float, help="PSF sigma (HR px) for Richardson-Lucy (default: fit)"
    )
    p.add_argument(
        "--rl-iterations", type=int, help="Richardson-Lucy iterations (default: best on the pair)"
    )
    p.add_argument(
        "--ensemble",
        action="store_true",
        help="run the model on 8 flips/rotations of the LR and average (see predict --ensemble)",
    )
    p.set_defaults(run=run)


def _is_model(text: str) -> bool:
    from ..core.modelio import bundled_models

    path = Path(text)
    if text in bundled_models():
        return True
    if path.suffix.lower() in MODEL_SUFFIXES:
        return True
    return path.is_dir() and (path / "model.json").exists()


def run(args) -> int:
    from ..core.evaluation.scoring import evaluate

    args.hr, args.lr = pair_paths(args)
    hr, lr = read_pair(args.hr, args.lr, args.channel)
    kwargs = {"sigma": args.sigma, "rl_iterations": args.rl_iterations}
    label = Path(args.candidate).name
    if _is_model(args.candidate):
        from ..core.inference.config import PredictConfig

        config = PredictConfig(ensemble=args.ensemble)
        scored = evaluate(
            lr, hr, args.scale, model=args.candidate, label=label, config=config, **kwargs
        )
    else:
        if args.ensemble:
            raise InputError("--ensemble applies to a model, not to an SR image")
        if not Path(args.candidate).exists():
            raise InputError(
                f"{args.candidate!r} is neither an image file nor a model (bundled name, model "
                ".json or run folder)"
            )
        from ..core.io.images import read_image, to_gray

        try:
            sr = to_gray(read_image(args.candidate), args.channel)
        except InputError as err:
            raise InputError(f"SR image: {err}") from None
        scored = evaluate(lr, hr, args.scale, sr=sr, label=label, **kwargs)
    print(scored.table(), file=sys.stderr)
    if "steered_by" in scored.extra:
        print(f"{label} (degradation-aware) was told {scored.extra['steered_by']}", file=sys.stderr)
    summary = {
        "scores": _scores(scored),
        "shift_yx": list(scored.shift_yx),
        "border": scored.border,
        **scored.extra,
    }
    if scored.overlap is not None:
        print(f"warning: {scored.overlap.sentence()}", file=sys.stderr)
        summary["training_overlap"] = {
            "source": scored.overlap.name,
            "trained_yx": [list(r) for r in scored.overlap.trained],
            "held_out_yx": [list(r) for r in scored.overlap.held_out]
            if scored.overlap.held_out
            else None,
        }
        summary["held_out"] = _scores(scored.held_out) if scored.held_out else None
    print_json(summary)
    return 0


def _scores(scored) -> dict:
    return {k: {"psnr": v.psnr, "ssim": v.ssim} for k, v in scored.scores.items()}
