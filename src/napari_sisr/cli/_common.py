"""Pieces every subcommand shares: progress on stderr, reading HR/LR pairs, option parsing.

Errors the user can fix are raised as :class:`~napari_sisr.core.errors.InputError` (the
subcommands and core alike); :func:`napari_sisr.cli.main` prints them as one line.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable

from ..core.errors import InputError

#: The bars :func:`progress_printer` has open, closed by :func:`close_progress`.
_OPEN_BARS: list = []


def close_progress() -> None:
    """Close (and erase) every progress bar still open, before an error message is printed:
    a bar stopped at "0%| 0/5" above the message reads as if the job had hung."""
    while _OPEN_BARS:
        _OPEN_BARS.pop().close()


def progress_printer(quiet: bool) -> Callable:
    """A callback that renders progress updates as a tqdm bar on stderr.

    Training updates also show their loss terms, and every validation is written as a line of
    its own above the bar. Warnings of a job (e.g. an image unlike the model's training
    images) are printed once, also with ``quiet``.
    """
    from ..core.progress import PredictProgress, TrainProgress

    state: dict = {}

    def callback(update) -> None:
        warnings = update.warnings if isinstance(update, PredictProgress) else ()
        notes = update.notes if isinstance(update, PredictProgress) else ()
        for note in notes:
            if note not in state.setdefault("noted", set()):
                state["noted"].add(note)
                print(note, file=sys.stderr)
        for warning in warnings:
            if warning not in state.setdefault("warned", set()):
                state["warned"].add(warning)
                print(f"warning: {warning}", file=sys.stderr)
        if quiet:
            return
        from tqdm import tqdm

        bar = state.get("bar")
        if bar is not None and bar.total != update.total:
            bar.close()
            _OPEN_BARS.remove(bar)
            bar = state["bar"] = None
        if bar is None:
            if update.done == 0 and update.total > 0:
                return  # no bar before the first piece of work is done (errors come first)
            # it starts at the work already done: a rate over the work done before it showed
            # (a one-tile image finished in seconds read "100000 it/s") would be no rate at all
            unit = "tile" if isinstance(update, PredictProgress) else "it"
            bar = state["bar"] = tqdm(
                total=update.total,
                initial=update.done,
                unit=unit,
                desc=update.message[:40],  # else its first line is drawn without it
                file=sys.stderr,
                leave=False,
            )
            _OPEN_BARS.append(bar)
        bar.set_description(update.message[:40], refresh=False)
        bar.n = update.done
        if isinstance(update, TrainProgress):
            bar.unit = "step"
            shown = {k: f"{v:.4g}" for k, v in update.losses.items() if k.startswith("l_")}
            if shown:
                bar.set_postfix(shown, refresh=False)
            if update.val is not None:
                bar.write(validation_line(update.step, update.val, update.losses), file=sys.stderr)
        bar.refresh()
        if update.done >= update.total:
            bar.close()
            _OPEN_BARS.remove(bar)
            state.pop("bar", None)

    return callback


def validation_line(step: int, val, losses: dict[str, float]) -> str:
    """``step N: val PSNR ... (bicubic ...), SSIM ... (bicubic ...); losses``."""
    text = (
        f"step {step}: val PSNR {val.psnr:.2f} dB (bicubic {val.psnr_bicubic:.2f}), "
        f"SSIM {val.ssim:.4f} (bicubic {val.ssim_bicubic:.4f})"
    )
    if losses:
        text += "; " + ", ".join(f"{k} {v:.4g}" for k, v in losses.items())
    return text


def channel_count(arr, what: str) -> int:
    """Channels of an image read from a file: 1 for a plane, C for RGB(A) or a (C, Y, X) stack."""
    if arr.ndim == 2:
        return 1
    if arr.ndim == 3:
        return arr.shape[-1] if arr.shape[-1] in (3, 4) else arr.shape[0]
    raise InputError(
        f"{what} image has shape {arr.shape}: expected one 2D plane, RGB, or a channel stack "
        "(pick a plane of z-stacks and time-lapses first)"
    )


def add_pixel_size_um(p, help_: str) -> None:
    """``--pixel-size-um UM`` (the unit in its name; ``--pixel-size``, its name before, still
    read) into ``args.pixel_size``."""
    p.add_argument(
        "--pixel-size-um", "--pixel-size", dest="pixel_size", type=float, metavar="UM", help=help_
    )


#: What each image of a pair is, for help texts and messages.
PAIR_HELP = {
    "hr": "the HR image of the field (or --hr)",
    "lr": "the real LR capture of the same field (or --lr)",
}


def add_pair_args(p, order: tuple[str, str], help_: dict[str, str] | None = None) -> None:
    """The HR image and the LR capture of a pair: positional in ``order`` (``fit`` takes HR
    first; ``evaluate`` and ``tune`` take the LR capture first, as the model reads it), or
    named with ``--hr`` / ``--lr`` in any order on every command. :func:`pair_paths` resolves
    them."""
    texts = {**PAIR_HELP, **(help_ or {})}
    for i, role in enumerate(order):
        p.add_argument(f"_pair{i}", nargs="?", metavar=role.upper(), help=texts[role])
    for role in ("hr", "lr"):
        named = texts[role].replace(f" (or --{role})", "").replace(f", (or --{role})", "")
        p.add_argument(f"--{role}", dest=f"{role}_named", metavar=role.upper(), help=named)
    p.set_defaults(_pair_order=order)


def pair_paths(args) -> tuple[str, str]:
    """``(hr, lr)`` from :func:`add_pair_args`: the named ones, the positional ones filling
    what is not named, in the command's order."""
    named = {role: getattr(args, f"{role}_named") for role in ("hr", "lr")}
    given = [v for v in (args._pair0, args._pair1) if v is not None]
    free = [role for role in args._pair_order if named[role] is None]
    if len(given) > len(free):
        raise InputError(
            f"{len(given)} image paths for {len(free)} place(s): an image given by name (--hr, "
            "--lr) is not given again by position"
        )
    paths = dict(named)
    paths.update(zip(free, given, strict=False))
    missing = [role for role in ("hr", "lr") if paths.get(role) is None]
    if missing:
        wanted = [f"{PAIR_HELP[r].split(' (')[0]} ({r.upper()} or --{r})" for r in missing]
        raise InputError("give " + " and ".join(wanted))
    return paths["hr"], paths["lr"]


def read_pair(hr_path: str, lr_path: str, channel: int | None):
    """Read an HR/LR pair of files and reduce both to the same 2D plane for fitting.

    RGB(A) becomes its luminance unless ``channel`` picks one channel of both images.
    """
    from ..core.io.images import read_image, to_gray

    planes = []
    arrays = {"HR": read_image(hr_path), "LR": read_image(lr_path)}
    counts = {k: channel_count(a, k) for k, a in arrays.items()}
    if counts["HR"] > 1 and counts["LR"] > 1 and counts["HR"] != counts["LR"]:
        raise InputError(
            f"mismatched channels: HR has {counts['HR']} channels, LR has {counts['LR']}"
        )
    for what, arr in arrays.items():
        if channel is not None and counts[what] == 1 and channel != 0:
            raise InputError(
                f"mismatched channels: {what} image is single-channel, so --channel {channel} "
                "does not exist in it"
            )
        try:
            planes.append(to_gray(arr, channel if counts[what] > 1 else None))
        except InputError as err:
            raise InputError(f"{what} image: {err}") from None
    return planes[0], planes[1]


def key_values(items: list[str], flag: str, numbers: bool = False) -> dict:
    """``["n_blocks=8", "skip=bicubic"]`` -> ``{"n_blocks": 8, "skip": "bicubic"}`` (``flag``
    names the option in errors; with ``numbers`` every value must be a finite number)."""
    import math

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{flag} expects KEY=VALUE, got {item!r}")
        if key.strip() in out:
            raise InputError(f"{flag} gives {key.strip()!r} twice")
        try:
            parsed = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            parsed = value
        if numbers and not (
            isinstance(parsed, int | float)
            and not isinstance(parsed, bool)
            and math.isfinite(parsed)
        ):
            raise InputError(f"{flag} {item}: the value must be a number, got {value!r}")
        out[key.strip()] = parsed
    return out


def check_params_output(output: str, overwrite: bool, inputs=()) -> None:
    """Refuse an ``output`` for degradation parameters that is not a .json name, that is one
    of the command's ``inputs`` (however spelt), or that exists unless ``overwrite``."""
    from pathlib import Path

    from ..core.errors import OutputExistsError
    from ..core.io.guard import check_not_input

    path = Path(output)
    if path.suffix.lower() != ".json":
        raise InputError(f"-o {path.name}: the parameters are JSON, give a .json name")
    check_not_input(path, inputs)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")


def save_params(params, output: str, overwrite: bool, inputs=()) -> None:
    """Write degradation parameters to ``output``: a .json name, never over a file unasked,
    never over an input."""
    check_params_output(output, overwrite, inputs)
    params.save(output)


def _finite(obj):
    """``obj`` with every infinite or NaN float replaced by None (recursively)."""
    if getattr(obj, "ndim", None) == 0 and hasattr(obj, "item"):  # a numpy scalar
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def print_json(obj, **dumps) -> None:
    """Print ``obj`` as one line of standard JSON on stdout: a value that could not be measured
    (an infinite or NaN float) is written as null, which every JSON reader accepts (Python
    would write ``Infinity``, which jq and most others refuse)."""
    print(json.dumps(_finite(obj), allow_nan=False, **dumps))
