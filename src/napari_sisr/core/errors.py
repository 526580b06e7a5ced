"""User mistakes versus bugs.

Core code raises :class:`InputError` (or one of its subclasses) on purpose, with a message that
names the problem, whenever the input cannot work: a wrong scale, an image of the wrong shape,
a missing file, an option out of range. Front ends show those as one line. Anything else that
escapes a job is a bug (or an environment failure the code did not foresee): front ends log its
traceback with :func:`log_internal_error` and ask the user to report it, naming the log file.

The subclasses also derive from the matching built-in exception, so ``except ValueError`` /
``except FileNotFoundError`` callers keep working.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import traceback
from pathlib import Path

__all__ = [
    "write_failed",
    "InputError",
    "InputNotFoundError",
    "InputTypeError",
    "OutputExistsError",
    "output_exists",
    "describe",
    "is_expected",
    "log_internal_error",
    "log_path",
]

log = logging.getLogger("napari_sisr")


class InputError(ValueError):
    """The input (data, file, option) cannot work; the message says why and what to do."""


class InputTypeError(InputError, TypeError):
    """An input of the wrong kind (e.g. a boolean mask where an intensity image is needed)."""


class InputNotFoundError(InputError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class OutputExistsError(InputError, FileExistsError):
    """An output exists and would be replaced: the user must ask for that explicitly."""


def write_failed(path, err: OSError, left: str = "nothing was left behind") -> InputError:
    """The error for an output that could not be written (a full disk, a quota, a file-size
    limit): names the file and the cause, instead of "262144 requested and 16328 written"."""
    reason = err.strerror or str(err) or type(err).__name__
    if not err.strerror and "requested and" in reason and "written" in reason:  # a short write
        reason = f"fewer bytes written than asked ({reason}): a full disk or a file-size limit"
    return InputError(f"could not write {path}: {reason} (is the disk full? {left})")


def output_exists(path, what: str = "") -> OutputExistsError:
    """The error for an output that exists, saying how to replace it on purpose."""
    return OutputExistsError(
        f"{path} exists{what}: to replace it, ask for that (--overwrite on the command line, "
        "overwrite=True in Python)"
    )


def describe(err: BaseException) -> str:
    """A one-line description of an error; pydantic errors are listed field by field."""
    errors = getattr(err, "errors", None)
    if callable(errors):
        try:
            items = errors()
        except Exception:  # noqa: BLE001 - an errors() of another kind: use str()
            items = None
        if isinstance(items, list) and items:
            parts = []
            for e in items:
                loc = ".".join(str(x) for x in e.get("loc", ()) if not isinstance(x, int))
                msg = str(e.get("msg", "")).removeprefix("Value error, ")
                parts.append(f"{loc}: {msg}" if loc else msg)
            return "; ".join(parts)
    return " ".join(str(err).split()) or type(err).__name__


def is_expected(err: BaseException) -> bool:
    """Whether ``err`` is a problem the user can fix (shown as one line, not as a bug).

    Deliberate :class:`InputError`, a pydantic validation error (a config field out of range),
    and operating-system errors (permissions, a full disk, a vanished file).
    """
    if isinstance(err, InputError | OSError):
        return True
    return type(err).__name__ == "ValidationError" and callable(getattr(err, "errors", None))


def log_path() -> Path:
    """The file internal errors are logged to (``NAPARI_SISR_LOG_DIR`` overrides the folder)."""
    folder = os.environ.get("NAPARI_SISR_LOG_DIR")
    if not folder:
        import platformdirs

        folder = platformdirs.user_log_dir("napari-sisr", appauthor=False)
    return Path(folder) / "napari-sisr.log"


def log_internal_error(err: BaseException, context: str) -> Path | None:
    """Append the traceback of an unexpected error to :func:`log_path`; return the path.

    Also logged through :mod:`logging`. Returns ``None`` if the log file cannot be written.
    """
    log.error("%s failed", context, exc_info=(type(err), err, err.__traceback__))
    path = log_path()
    text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    stamp = _dt.datetime.now().isoformat(timespec="seconds")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"--- {stamp} {context}\n{text}\n")
    except OSError:
        return None
    return path
