"""Command line: ``napari-sisr <subcommand> ...``.

Each subcommand is a small ``add_<name>(subparsers)`` function that registers its parser and a
``run`` callable; the work itself lives in :mod:`napari_sisr.core`. Errors the user can fix are
printed as one line on stderr with exit code 2; results the scripts read go to stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .cli_noise import add_noise
from .cli_train import add_train

log = logging.getLogger("napari_sisr")


class UserError(Exception):
    """An error caused by the user's input, reported without a traceback."""


def _progress_printer(quiet: bool) -> Callable:
    """A callback that renders :class:`Progress` updates as a tqdm bar on stderr."""
    if quiet:
        return lambda update: None
    from tqdm import tqdm

    state: dict = {}

    def callback(update) -> None:
        bar = state.get("bar")
        if bar is None or bar.total != update.total:
            if bar is not None:
                bar.close()
            bar = state["bar"] = tqdm(total=update.total, file=sys.stderr, leave=False)
        bar.set_description(update.message[:40])
        bar.n = update.done
        bar.refresh()
        if update.done >= update.total:
            bar.close()
            state.pop("bar", None)

    return callback


def _channel_count(arr, what: str) -> int:
    """Channels of an image read from a file: 1 for a plane, C for RGB(A) or a (C, Y, X) stack."""
    if arr.ndim == 2:
        return 1
    if arr.ndim == 3:
        return arr.shape[-1] if arr.shape[-1] in (3, 4) else arr.shape[0]
    raise UserError(
        f"{what} image has shape {arr.shape}: expected one 2D plane, RGB, or a channel stack "
        "(pick a plane of z-stacks and time-lapses first)"
    )


def _read_pair(hr_path: str, lr_path: str, channel: int | None):
    """Read an HR/LR pair of files and reduce both to the same 2D plane for fitting.

    RGB(A) becomes its luminance unless ``channel`` picks one channel of both images.
    """
    from .core.io import read_image, to_gray

    planes = []
    arrays = {"HR": read_image(hr_path), "LR": read_image(lr_path)}
    counts = {k: _channel_count(a, k) for k, a in arrays.items()}
    if counts["HR"] > 1 and counts["LR"] > 1 and counts["HR"] != counts["LR"]:
        raise UserError(
            f"mismatched channels: HR has {counts['HR']} channels, LR has {counts['LR']}"
        )
    for what, arr in arrays.items():
        if channel is not None and counts[what] == 1 and channel != 0:
            raise UserError(
                f"mismatched channels: {what} image is single-channel, so --channel {channel} "
                "does not exist in it"
            )
        try:
            planes.append(to_gray(arr, channel if counts[what] > 1 else None))
        except ValueError as err:
            raise UserError(f"{what} image: {err}") from None
    return planes[0], planes[1]


def _one_line(err: BaseException) -> str:
    """A one-line description of an error (pydantic errors listed field by field)."""
    errors = getattr(err, "errors", None)
    if callable(errors):
        try:
            items = errors()
            return "; ".join(
                f"{'.'.join(str(x) for x in e.get('loc', ())) or 'value'}: {e.get('msg', '')}"
                for e in items
            )
        except Exception:  # not a pydantic error after all
            pass
    return " ".join(str(err).split()) or type(err).__name__


# ---------------------------------------------------------------------------- simulate
def add_simulate(sub) -> None:
    p = sub.add_parser("simulate", help="simulate a low-resolution capture of an HR image")
    p.add_argument("hr", help="HR image (TIFF, OME-TIFF, PNG, JPEG)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output LR image: .tif / .ome.tif (any dtype), or .png / .jpg with --dtype input",
    )
    p.add_argument("--params", help="degradation JSON (from 'fit'); flags below override it")
    p.add_argument("--scale", type=int, help="integer scale s (default 4)")
    p.add_argument("--sigma", type=float, help="PSF sigma in HR pixels (default 1.5)")
    p.add_argument("--noise-var", type=float, help="noise variance, LR units (default 0)")
    p.add_argument("--poisson-a", type=float, help="Poisson gain a: var = a*signal + noise_var")
    p.add_argument("--gain", type=float)
    p.add_argument("--offset", type=float)
    p.add_argument("--shift", type=float, nargs=2, metavar=("DY", "DX"), help="HR pixels")
    p.add_argument("--sigma-z", type=float, help="3D blur along Z for z-stacks (planes)")
    p.add_argument("--seed", type=int, default=None, help="noise seed (reproducible output)")
    p.add_argument(
        "--dtype",
        choices=["float32", "input"],
        default="float32",
        help="output dtype: float32 (default) or the input's, rounded and clipped",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(run=run_simulate)


def run_simulate(args) -> int:
    import numpy as np

    from .core.config import DegradationParams
    from .core.degradation import simulate_lr
    from .core.io import TIFF_SUFFIXES, read_image, write_image

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise UserError(f"{out} exists; pass --overwrite to replace it")
    base = DegradationParams.load(args.params) if args.params else DegradationParams()
    updates = {
        "scale": args.scale,
        "sigma": args.sigma,
        "noise_var": args.noise_var,
        "poisson_a": args.poisson_a,
        "gain": args.gain,
        "offset": args.offset,
        "shift_yx": tuple(args.shift) if args.shift else None,
        "sigma_z": args.sigma_z,
    }
    data = base.model_dump()
    data.update({k: v for k, v in updates.items() if v is not None})
    if args.sigma is not None:
        data["sigma_y"] = data["sigma_x"] = None
    params = DegradationParams.model_validate(data)
    suffix = out.suffix.lower()
    if suffix not in TIFF_SUFFIXES + (".png", ".jpg", ".jpeg"):
        raise UserError(f"cannot write {out.name}: use a .tif, .ome.tif, .png or .jpg name")
    hr = read_image(args.hr)
    if suffix in (".png", ".jpg", ".jpeg") and (args.dtype != "input" or hr.dtype.kind != "u"):
        raise UserError(
            f"{suffix[1:].upper()} output holds 8-bit (PNG: also 16-bit) integers: pass --dtype "
            "input with an integer HR image, or write a .tif"
        )
    lr = simulate_lr(hr, params, rng=np.random.default_rng(args.seed))
    if args.dtype == "input" and hr.dtype.kind in "ui":
        info = np.iinfo(hr.dtype)
        lr = np.clip(np.rint(lr), info.min, info.max).astype(hr.dtype)
    write_image(out, lr)
    print(json.dumps({"output": str(out), "shape": list(lr.shape), **params.summary()}))
    return 0


# --------------------------------------------------------------------------------- fit
def add_fit(sub) -> None:
    p = sub.add_parser("fit", help="fit the degradation model to a real HR/LR pair")
    p.add_argument("hr", help="HR image of the field")
    p.add_argument("lr", help="real LR capture of the same field (not registered)")
    p.add_argument("--scale", type=int, required=True, help="integer scale between the grids")
    p.add_argument("-o", "--output", help="write the parameters to this JSON file")
    p.add_argument("--channel", type=int, help="fit this channel instead of the luminance")
    p.add_argument("--anisotropic", action="store_true", help="fit sigma_y and sigma_x")
    p.add_argument("--poisson", action="store_true", help="fit Poisson-Gaussian noise")
    p.add_argument(
        "--hr-ratio",
        metavar="R|auto",
        help="HR pixels per LR pixel when that is not the integer --scale (e.g. 7.31 = LR pixel "
        "size / HR pixel size, or 'auto' to estimate it): the HR image is first resampled to "
        "exactly --scale times the LR grid, and the parameters refer to that grid",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run_fit)


def run_fit(args) -> int:
    from .core.fit import fit_degradation

    hr, lr = _read_pair(args.hr, args.lr, args.channel)
    ratio = None
    if args.hr_ratio is not None:
        from .core.pairs import estimate_ratio, resample_hr

        if args.hr_ratio == "auto":
            ratio, _ = estimate_ratio(hr, lr)
        else:
            try:
                ratio = float(args.hr_ratio)
            except ValueError:
                msg = f"--hr-ratio must be a number or 'auto', got {args.hr_ratio!r}"
                raise UserError(msg) from None
        hr = resample_hr(hr, ratio, args.scale)
    params = fit_degradation(
        hr,
        lr,
        args.scale,
        anisotropic=args.anisotropic,
        poisson=args.poisson,
        progress=_progress_printer(args.quiet),
    )
    if ratio is not None:
        params.notes["hr_resampled"] = {"ratio": ratio, "zoom": args.scale / ratio}
    if args.output:
        params.save(args.output)
    print(json.dumps(params.summary()))
    return 0


# ------------------------------------------------------------------------------- main
#: Subcommand registrars, in the order ``--help`` lists them.
from .cli_models import add_models  # noqa: E402
from .cli_predict import add_predict  # noqa: E402 (after the helpers it uses)

SUBCOMMANDS: list[Callable] = [
    add_simulate,
    add_fit,
    add_noise,
    add_train,
    add_predict,
    add_models,
]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="napari-sisr",
        description="GAN super-resolution for microscopy: fit, train, predict.",
    )
    parser.add_argument("--version", action="version", version=f"napari-sisr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log diagnostics")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for register in SUBCOMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napari-sisr`` console command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from .core.progress import Cancelled

    try:
        return int(args.run(args) or 0)
    except (UserError, ValueError, TypeError, OSError) as err:
        if args.verbose:
            raise
        print(f"napari-sisr {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except (Cancelled, KeyboardInterrupt):
        print(f"napari-sisr {args.command}: cancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    # Run the canonical module, not this __main__ copy, so that subcommand modules and this
    # entry point share one set of classes (UserError).
    from napari_sisr.cli import main as _main

    sys.exit(_main())
