"""One door in, one door out: every file the project reads or writes passes here.

**Reading.** :func:`regular_file` refuses what is not a regular file (a pipe, a device, a
socket: opening one waits forever, or reads without end) before anything opens it;
:func:`read_text` and :func:`load_json` read small text files within a stated size and turn
every decoding and parsing error (bad UTF-8, bad JSON, nesting too deep) into an
:class:`~napari_sisr.core.errors.InputError` that names the file; :func:`check_whole_read`
compares the size an image *declares* with the memory budget before a reader allocates it (a
header can declare 100000 x 100000 pixels in a few bytes).

**Writing.** :func:`staged` gives a temporary file created exclusively (``O_EXCL``, never
through a link) under an unpredictable name beside the target, flushed, synced and renamed
over the target, or removed on failure; :func:`staged_dir` does the same for folders.
:func:`check_not_input` refuses an output that resolves (``..``, links) to an input.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError, InputNotFoundError, write_failed

#: Largest JSON / YAML text read (model cards, fits, checkpoint states, settings).
MAX_TEXT_BYTES = 64 * 2**20
#: Fraction of the free memory one whole-image read may take.
MEMORY_FRACTION = 0.5


# ----------------------------------------------------------------------------- reading


def regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` when it is a regular file (links followed); else a clear error, before any
    open: a missing file, a folder, or a pipe / device / socket (which would block)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputNotFoundError(f"{what} not found: {path}") from None
    except OSError as err:
        raise InputError(f"cannot read {what} {path}: {err.strerror or err}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{what} {path} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(
            f"{what} {path} is not a regular file (a pipe, device or socket): give a file"
        )
    return path


def not_special(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` unless it is a pipe, device or socket (folders and missing paths pass: the
    caller says what it expects of them)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError:
        return path
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise InputError(
            f"{what} {path} is not a regular file (a pipe, device or socket): give a file"
        )
    return path


def read_bytes(path: str | os.PathLike, what: str, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes."""
    path = regular_file(path, what)
    size = path.stat().st_size
    if size > limit:
        raise InputError(f"{what} {path} is {size / 2**20:.0f} MiB, more than {_mib(limit)}")
    with open(path, "rb") as fh:
        data = fh.read(size + 1)  # read(n) allocates n bytes: ask for what the file holds
    if len(data) > size:  # grew while read
        raise InputError(f"{what} {path} changed while it was read")
    return data


def read_text(path: str | os.PathLike, what: str, limit: int = MAX_TEXT_BYTES) -> str:
    """A UTF-8 text file of at most ``limit`` bytes."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{what} {path} is not UTF-8 text ({err.reason} at byte {err.start})"
        ) from None


def parse_json(text: str, what: str) -> Any:
    """JSON text, with every parsing error (and nesting too deep to parse) named."""
    try:
        return json.loads(text)
    except RecursionError:
        raise InputError(f"{what} is nested too deeply to be a JSON document of ours") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{what} is not valid JSON ({err.msg}, line {err.lineno})") from None


def load_json(path: str | os.PathLike, what: str, limit: int = MAX_TEXT_BYTES) -> Any:
    """A JSON file, read by :func:`read_text` and parsed by :func:`parse_json`."""
    return parse_json(read_text(path, what, limit), f"{what} {path}")


def load_yaml(text: str, what: str) -> Any:
    """YAML text (safe loader only), with parsing errors and deep nesting named."""
    import yaml

    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise InputError(f"{what} is nested too deeply") from None
    except yaml.YAMLError as err:
        raise InputError(f"{what} is not valid YAML ({' '.join(str(err).split())[:200]})") from None


#: Largest member of a model package (zip) read: weights beyond this are not ours.
MAX_ZIP_MEMBER = 4 * 2**30


@contextlib.contextmanager
def open_zip(path: str | os.PathLike, what: str = "package") -> Iterator[Any]:
    """A zip file opened for reading, every zip error (damaged, encrypted, an unknown
    compression method, a bad checksum) turned into an input error naming it."""
    import zipfile
    import zlib

    path = regular_file(path, what)
    try:
        with zipfile.ZipFile(path) as z:
            yield z
    except InputError:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        RuntimeError,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
    ) as err:
        raise InputError(f"{what} {path.name} cannot be read: {describe_zip(err)}") from None


def describe_zip(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, RuntimeError) and "encrypted" in text:
        return "it is encrypted"
    if isinstance(err, NotImplementedError):
        return f"it uses a compression method this Python cannot read ({text})"
    return text


def read_member(z, name: str, what: str, limit: int | None = None) -> bytes:
    """One member of an open zip, refused when it declares more than ``limit`` bytes
    (default :data:`MAX_ZIP_MEMBER`, within the memory budget: a member that inflates to
    gigabytes from a few kilobytes) and read to at most that."""
    limit = min(MAX_ZIP_MEMBER, memory_budget()) if limit is None else limit
    info = z.getinfo(name)
    if info.file_size > limit:
        raise InputError(
            f"{what}: {name} inflates to {info.file_size / 2**30:.1f} GiB, more than a model "
            f"file holds ({limit / 2**30:.0f} GiB)"
        )
    with z.open(info) as fh:  # zipfile stops at the declared size and checks the CRC
        return fh.read()


def memory_budget() -> int:
    """Bytes a whole-image read may take: :data:`MEMORY_FRACTION` of the memory this process
    can still get (the free memory, within the limits of the process and its container)."""
    import psutil

    free = psutil.virtual_memory().available
    for limit in (_address_space_left(), _cgroup_left()):
        if limit is not None:
            free = min(free, limit)
    return int(max(free, 0) * MEMORY_FRACTION)


def _address_space_left() -> int | None:
    """What an address-space limit (``ulimit -v``) leaves this process, if one is set."""
    try:
        import resource

        import psutil

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return None
        return int(soft - psutil.Process().memory_info().vms)
    except (ImportError, OSError, ValueError):
        return None


def _cgroup_left() -> int | None:
    """What a container's memory limit (cgroup v2 or v1) leaves, if one is set."""
    for limit, used in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            cap = Path(limit).read_text().strip()
            if cap == "max" or int(cap) >= 2**60:
                return None
            return int(cap) - int(Path(used).read_text().strip())
        except (OSError, ValueError):
            continue
    return None


def check_whole_read(shape: Iterable[int], dtype, where: str, remedy: str = "") -> None:
    """Refuse to read a whole image whose declared size is beyond the memory budget."""
    import math

    import numpy as np

    nbytes = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
    budget = memory_budget()
    if nbytes > budget:
        shape_text = " x ".join(str(int(n)) for n in shape)
        raise InputError(
            f"{where} declares {shape_text} pixels ({nbytes / 2**30:.1f} GiB), more than this "
            f"job reads into memory ({budget / 2**30:.1f} GiB)"
            + (f": {remedy}" if remedy else ": crop it first, or use a command that tiles it")
        )


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


# ----------------------------------------------------------------------------- writing


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_not_input(out: str | os.PathLike, inputs: Iterable, what: str = "output") -> None:
    """Refuse an output that is one of the inputs, however spelt (``./a/../x``, a link), or
    that lies inside an input folder (an OME-Zarr store) or holds one."""
    out_path = Path(os.path.realpath(out))
    for item in inputs:
        if not isinstance(item, str | os.PathLike) or "://" in str(item):
            continue
        src = Path(os.path.realpath(item))
        inside = src.is_dir() and (out_path == src or src in out_path.parents)
        holds = out_path in src.parents
        if _same_file(out_path, src) or inside or holds:
            raise InputError(
                f"the {what} {out} is the input {item} (or inside it): choose another path, "
                "the input would be destroyed"
            )


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def staged(target: str | os.PathLike, *, mode: int = 0o666) -> Iterator[Path]:
    """A temporary file beside ``target`` to write the output to, renamed over ``target`` when
    the block ends without error, removed otherwise.

    The temporary is created by ``mkstemp`` (an unpredictable name, ``O_EXCL``, so a link
    planted in the folder can neither be written through nor guessed), gets the permissions
    ``open`` would give, and is synced before the rename. A write that fails (a full disk)
    raises the project's write error naming ``target``.
    """
    from .atomic import current_umask

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, mode & ~current_umask())
        yield tmp
        with open(tmp, "rb+") as fh:  # the writer may have closed it: sync its bytes
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise write_failed(target, err) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def staged_dir(target: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder beside ``target`` (``mkdtemp``: unpredictable, exclusive), renamed
    to ``target`` when the block ends without error, removed otherwise."""
    from .atomic import current_umask

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial"))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())
        yield tmp
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
