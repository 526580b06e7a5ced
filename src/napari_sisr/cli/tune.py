"""``napari-sisr tune``: the steering of a degradation-aware model that best restores a pair."""

from __future__ import annotations

import sys

from ._common import (
    add_pair_args,
    check_params_output,
    pair_paths,
    print_json,
    progress_printer,
    read_pair,
    save_params,
)


def add(sub) -> None:
    p = sub.add_parser(
        "tune",
        help="tune a degradation-aware model's PSF width and noise on a real LR/HR pair",
        description=(
            "Super-resolve the LR capture with the model told a range of PSF widths and noise "
            "levels around the pair's fit, score each against the HR capture (registered "
            "PSNR, as 'napari-sisr evaluate' does) and write the fit with the best values: "
            "pass that JSON to 'napari-sisr predict --degradation' for other images of the "
            "same microscope. No training: seconds to a minute. The table goes to stderr, one "
            "JSON line to stdout."
        ),
    )
    p.add_argument("model", help="a degradation-aware model (bundled name, model .json or folder)")
    add_pair_args(p, ("lr", "hr"))
    p.add_argument("--scale", type=int, help="scale of the pair (default: the model's)")
    p.add_argument(
        "--degradation", metavar="FIT.json", help="the pair's fit to start from (default: fit it)"
    )
    p.add_argument("--channel", type=int, help="use this channel instead of the luminance")
    p.add_argument("-o", "--output", help="write the tuned parameters to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..core.degradation.params import DegradationParams
    from ..core.evaluation.tuning import tune_steering

    args.hr, args.lr = pair_paths(args)
    inputs = (args.lr, args.hr, args.degradation, args.model)
    if args.output:  # refuse before the work, not after it
        check_params_output(args.output, args.overwrite, [i for i in inputs if i])
    hr, lr = read_pair(args.hr, args.lr, args.channel)
    fit = DegradationParams.load(args.degradation) if args.degradation else None
    tuned = tune_steering(
        args.model, lr, hr, args.scale, degradation=fit, progress=progress_printer(args.quiet)
    )
    print(tuned.table(), file=sys.stderr)
    for warning in tuned.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.output:
        save_params(tuned.params, args.output, True)  # checked before the work
    print_json(
        {
            **tuned.params.summary(),
            "psnr": {
                "tuned": tuned.psnr,
                "fit": tuned.psnr_fit,
                "bicubic": tuned.psnr_bicubic,
            },
            "model": tuned.model,
        }
    )
    return 0
