"""``napari-sisr adapt IMAGES... --degradation PSF.json -o RUN``: a degradation-aware model
fine-tuned on the user's captures alone."""

from __future__ import annotations

from ._common import print_json


def add(sub) -> None:
    p = sub.add_parser(
        "adapt",
        help="adapt the degradation-aware model to your captures (no HR image needed)",
        description=(
            "Fine-tunes the degradation-aware model of the scale on the captures themselves: "
            "each result, taken back through the PSF, must reproduce an independent half of "
            "the capture (photon counts thinned, else recorrupted with the capture's noise). "
            "A band of each capture is held out and watched; the best weights are kept only "
            "where they beat the starting model there. Where the PSF and noise lie inside the "
            "range the model was trained on, the model is kept as it is (--always adapts "
            "anyway). Writes RUN/model.json (use it with predict --model RUN/model.json), "
            "log.jsonl and report.json (the evidence of the held-out band); prints one JSON "
            "line."
        ),
    )
    p.add_argument("images", nargs="+", help="the captures (2D planes or stacks of them)")
    p.add_argument(
        "--degradation",
        required=True,
        metavar="PSF.json",
        help="the captures' PSF: from napari-sisr fit, psf (beads) or noise --optics",
    )
    p.add_argument("-o", "--out", required=True, metavar="RUN_DIR", help="run folder")
    p.add_argument("--scale", type=int, default=4, choices=(2, 4), help="SR factor (default 4)")
    p.add_argument(
        "--model", help="the degradation-aware model to start from (default aware-<scale>x)"
    )
    p.add_argument("--iters", type=int, help="steps (default 300)")
    p.add_argument("--learning-rate", type=float, help="learning rate (default 1e-4)")
    p.add_argument("--patch", type=int, help="LR patch side in px (default 48)")
    p.add_argument("--batch", type=int, help="patches per step (default 8)")
    p.add_argument(
        "--always", action="store_true", help="adapt even inside the model's trained range"
    )
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--threads", type=int, help="CPU threads")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def build_config(args):
    """The :class:`~napari_sisr.core.adapt.AdaptConfig` of the parsed arguments."""
    from ..core.adapt import AdaptConfig
    from ..core.degradation.params import DegradationParams

    given = {
        "images": list(args.images),
        "degradation": DegradationParams.load(args.degradation),
        "out": args.out,
        "scale": args.scale,
        "model": args.model,
        "always": args.always,
        "overwrite": args.overwrite,
        "threads": args.threads,
    }
    for name in ("iters", "learning_rate", "patch", "batch", "seed"):
        if getattr(args, name) is not None:
            given[name] = getattr(args, name)
    return AdaptConfig(**given)


def run(args) -> int:
    from ..core.adapt import iter_adapt
    from ..core.progress import run_to_end
    from ._common import progress_printer

    c = build_config(args)
    result = run_to_end(iter_adapt(c), progress_printer(args.quiet))
    ev = result.report.get("evidence", {})
    print_json(
        {
            "model": str(result.model),
            "adapted": result.best_step > 0,
            "why": result.report["why"],
            "steps": result.steps,
            "best_step": result.best_step,
            "seconds": result.seconds,
            "held_out": result.report["held_out"],
            "flagged_fraction": ev.get("flagged_fraction"),
            "rsp": ev.get("rsp"),
        }
    )
    return 0
