"""``napari-sisr fit``: fit the degradation model to a real HR/LR pair."""

from __future__ import annotations

import argparse
import sys

from ..core.errors import InputError
from ._common import add_pair_args, pair_paths, print_json, progress_printer, read_pair, save_params


def add(sub) -> None:
    p = sub.add_parser("fit", help="fit the degradation model to a real HR/LR pair")
    add_pair_args(
        p, ("hr", "lr"), {"lr": "the real LR capture of the same field, not registered (or --lr)"}
    )
    p.add_argument("--scale", type=int, required=True, help="integer scale between the grids")
    p.add_argument("-o", "--output", help="write the parameters to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.add_argument("--channel", type=int, help="fit this channel instead of the luminance")
    p.add_argument("--anisotropic", action="store_true", help="fit sigma_y and sigma_x")
    p.add_argument("--poisson", action="store_true", help="fit Poisson-Gaussian noise")
    p.add_argument(
        "--noise",
        choices=("residual", "image"),
        default="residual",
        help="where the noise comes from: the fit's residual (default; what trains best on "
        "real pairs), or the LR image's own noise, estimated from the image alone (the "
        "camera's physical noise)",
    )
    p.add_argument(
        "--hr-ratio",
        metavar="R|auto",
        type=_ratio,
        help="HR pixels per LR pixel when that is not the integer --scale (e.g. 7.31 = LR pixel "
        "size / HR pixel size, or 'auto' to estimate it): the HR image is first resampled to "
        "exactly --scale times the LR grid, and the parameters refer to that grid",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write the parameters and exit 0 even when the fit failed its checks",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..core.degradation.pairs import fit_pair

    args.hr, args.lr = pair_paths(args)
    hr, lr = read_pair(args.hr, args.lr, args.channel)
    params = fit_pair(
        hr,
        lr,
        args.scale,
        ratio=args.hr_ratio,
        anisotropic=args.anisotropic,
        poisson=args.poisson,
        noise=args.noise,
        progress=progress_printer(args.quiet),
    ).params
    if "hr_resampled" not in params.notes:
        # the pair itself: training on this HR then learns from its real capture too
        params.notes["pair"] = {"hr": _absolute(args.hr), "lr": _absolute(args.lr)}
        if args.channel is not None:
            params.notes["pair"]["channel"] = args.channel
    quality = params.notes["quality"]
    line = "fit " + quality["verdict"] + "".join(f"\n  - {r}" for r in quality["reasons"])
    if quality["verdict"] == "failed" and not args.force:
        raise InputError(
            "the fit failed its checks (" + "; ".join(quality["reasons"]) + "); nothing "
            "written. Check the scale and the pair, or pass --force to keep it anyway"
        )
    if quality["verdict"] != "ok":
        print(line, file=sys.stderr)
    if args.output:
        save_params(params, args.output, args.overwrite, inputs=(args.hr, args.lr))
    print_json({**params.summary(), "quality": quality})
    return 0


def _ratio(text: str):
    """``--hr-ratio``'s value, checked where argparse names the flag in the message."""
    from ..core.degradation.pairs import parse_ratio

    try:
        return parse_ratio(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _absolute(path: str) -> str:
    from pathlib import Path

    from ..core.io.ngff import is_url

    return path if is_url(path) else str(Path(path).resolve())
