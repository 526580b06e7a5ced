"""``napari-sisr refine SR LR``: a result pushed towards reproducing the capture it came from."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ._common import print_json


def add(sub) -> None:
    p = sub.add_parser(
        "refine",
        help="refine a super-resolved image against its capture through the PSF",
        description=(
            "Richardson-Lucy iterations through the PSF the model was steered with (and the "
            "pixel's block mean), started from the super-resolved image: the result moves "
            "towards reproducing the capture. How many iterations: --iterations, or chosen on "
            "a calibration pair with --calibrate (the model's result on a capture of which an "
            "HR image exists, that capture, and the HR image: e.g. the pair the PSF was fitted "
            "on). The result is written as float32 TIFF; one JSON line to stdout."
        ),
    )
    p.add_argument("sr", help="the super-resolved image (all its planes and channels)")
    p.add_argument("lr", help="the capture it was made from")
    psf = p.add_mutually_exclusive_group(required=True)
    psf.add_argument("--degradation", metavar="FIT.json", help="the PSF (a fit, beads, optics)")
    psf.add_argument("--sigma", type=float, help="the PSF width in HR px")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--iterations", type=int, help="Richardson-Lucy iterations (0: none)")
    how.add_argument(
        "--calibrate",
        nargs=3,
        metavar=("SR_CAL", "LR_CAL", "HR_CAL"),
        help="choose the iterations on a calibration pair: the model's result on LR_CAL, "
        "LR_CAL, and its HR image",
    )
    p.add_argument("--scale", type=int, help="SR pixels per capture pixel (default: the sizes)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.tif", help="the refined image")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..core.errors import OutputExistsError
    from ..core.inference.input import canonical_input
    from ..core.inference.refine import psf_width
    from ..core.io.guard import check_not_input
    from ._evidence import scale_of

    calibration = list(args.calibrate or [])
    check_not_input(args.output, [args.sr, args.lr, args.degradation, *calibration])
    if Path(args.output).exists() and not args.overwrite:
        raise OutputExistsError(f"{args.output} exists; pass --overwrite to replace it")
    src, cap = canonical_input(args.sr), canonical_input(args.lr)
    sr, lr = np.asarray(src.data), np.asarray(cap.data)  # (lead..., Y, X, C)
    if sr.shape[:-3] != lr.shape[:-3] or sr.shape[-1] != lr.shape[-1]:
        raise InputError(
            f"{args.sr} and {args.lr} do not hold the same planes and channels "
            f"({sr.shape} and {lr.shape}, as (..., Y, X, C))"
        )
    scale = args.scale or scale_of(sr.shape[-3:-1], lr.shape[-3:-1])
    width = psf_width(args.degradation if args.degradation else args.sigma, scale)
    line = {"output": str(args.output), "scale": scale, "psf_hr_px": list(width)}
    n = args.iterations if not calibration else _calibrated(calibration, scale, width, line)
    shape = (*lr.shape[:-3], lr.shape[-3] * scale, lr.shape[-2] * scale, lr.shape[-1])
    out = np.empty(shape, np.float32)
    _refine_all(sr, lr, scale, width, n, out, args.quiet)
    from ..core.io.images import write_image

    write_image(args.output, src.layout.to_user(out))
    print_json({**line, "iterations": n})
    return 0


def _calibrated(paths: list[str], scale: int, width, line: dict) -> int:
    """The iteration count chosen on the calibration pair (and the PSNR of each, on stderr)."""
    from ..core.evidence.reading import read_plane
    from ..core.inference.refine import choose_refinement

    sr_cal, lr_cal, hr_cal = (read_plane(p, None)[0] for p in paths)
    n, psnr = choose_refinement(sr_cal, lr_cal, hr_cal, scale, width)
    print(
        "calibration pair, PSNR by iterations: "
        + ", ".join(f"{k}: {v:.2f} dB" for k, v in psnr.items())
        + f" -> {n}",
        file=sys.stderr,
    )
    line["calibration_psnr"] = {str(k): v for k, v in psnr.items()}
    return n


def _refine_all(sr, lr, scale: int, width, n: int, out, quiet: bool) -> None:
    from ..core.inference.refine import refine_plane

    planes = [(idx, c) for idx in np.ndindex(*lr.shape[:-3]) for c in range(lr.shape[-1])]
    for i, (idx, c) in enumerate(planes):
        if not quiet and len(planes) > 1:
            print(f"refining plane {i + 1} of {len(planes)}", file=sys.stderr)
        at = (*idx, Ellipsis, c)
        out[at] = refine_plane(sr[at], lr[at], scale, width, n)
