"""Command line: ``napari-sisr <subcommand> ...``.

Each subcommand is a module with an ``add(subparsers)`` function that registers its parser and
a ``run`` callable; the work itself lives in :mod:`napari_sisr.core`. Errors the user can fix
(:class:`~napari_sisr.core.errors.InputError`, invalid settings, file-system errors) are printed
as one line on stderr with exit code 2; any other error is a bug: its traceback goes to the log
file named in the message, and the exit code is 1. Results the scripts read go to stdout.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import (
    adapt,
    evaluate,
    evidence,
    export_bmz,
    fit,
    isotropic,
    models,
    noise,
    predict,
    psf,
    refine,
    resolution,
    simulate,
    train,
    tune,
)

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = [
    simulate,
    fit,
    psf,
    noise,
    train,
    adapt,
    predict,
    isotropic,
    evidence,
    resolution,
    refine,
    evaluate,
    tune,
    models,
    export_bmz,
]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="napari-sisr",
        description="GAN super-resolution for microscopy: fit, train, predict.",
    )
    parser.add_argument("--version", action="version", version=f"napari-sisr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log diagnostics")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in SUBCOMMANDS:
        command.add(sub)
    for command_parser in sub.choices.values():
        # no prefix matching: `fit --hr X` was taken as `--hr-ratio X`, and a later flag that
        # shares a prefix would silently change what an old command line means
        command_parser.allow_abbrev = False
    return parser


def _place_pair_paths(parser, args, extra: list[str]) -> None:
    """Image paths argparse left over after a named one (``evaluate M --hr HR LR``: it fills
    optional positionals only before the first option) go to the free places of the pair;
    anything else is an unknown argument, as argparse says."""
    free = [a for a in ("_pair0", "_pair1") if getattr(args, a, "absent") is None]
    paths = [e for e in extra if not e.startswith("-")]
    if hasattr(args, "_pair_order") and len(paths) == len(extra) <= len(free):
        for attr, path in zip(free, paths, strict=False):
            setattr(args, attr, path)
        return
    parser.error(f"unrecognized arguments: {' '.join(extra)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napari-sisr`` console command."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        _place_pair_paths(parser, args, extra)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from ..core.progress import Cancelled, skip_job_warnings

    for handler in logging.getLogger().handlers:
        # a job's warnings reach stderr once, through the progress printer
        if type(handler) is logging.StreamHandler and skip_job_warnings not in handler.filters:
            handler.addFilter(skip_job_warnings)
    from ..core.errors import describe, is_expected, log_internal_error
    from ._common import close_progress

    prefix = f"napari-sisr {args.command}"
    try:
        try:
            return int(args.run(args) or 0)
        finally:
            close_progress()
    except (Cancelled, KeyboardInterrupt):
        print(f"{prefix}: cancelled", file=sys.stderr)
        return 130
    except MemoryError as err:
        if args.verbose:
            raise
        where = log_internal_error(err, prefix)
        print(
            f"{prefix}: error: out of memory ({describe(err)}): use smaller tiles, a smaller "
            f"batch or smaller images" + (f" (details in {where})" if where else ""),
            file=sys.stderr,
        )
        return 2
    except Exception as err:
        if args.verbose:
            raise
        if is_expected(err):
            print(f"{prefix}: error: {describe(err)}", file=sys.stderr)
            return 2
        where = log_internal_error(err, prefix)
        print(
            f"{prefix}: internal error ({type(err).__name__}: {describe(err)}); please report "
            "it" + (f" with the log {where}" if where else ""),
            file=sys.stderr,
        )
        return 1
