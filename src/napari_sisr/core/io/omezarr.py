"""OME-Zarr output written block by block, resumable.

Two layouts: OME-NGFF 0.4 on zarr format 2 (the default: every OME-Zarr reader opens it) and
OME-NGFF 0.5 on zarr format 3 with sharding (one shard file per written block instead of one
file per chunk: far fewer files for very large images; zarr-python 3 and current viewers).

While a job runs, the group carries ``napari_sisr: {"complete": false, "done_chunks": ...}`` and
no ``multiscales`` metadata, so no reader mistakes it for a finished image; ``done_chunks`` lists
the finished blocks as ``[start, stop)`` ranges of their flat index. The same job run again
skips them. Only when every block is written does :meth:`OmeZarrWriter.finalize` add the
multiscale metadata and set ``complete`` to true. Each block also writes its share of every
pyramid level (2x2 means), so the pyramid costs no second pass.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, output_exists, write_failed
from .atomic import current_umask
from .dtypes import cast_to
from .units import length_unit

#: OME-NGFF versions this writer produces, and the zarr format each is stored in.
NGFF_VERSIONS = {"0.4": 2, "0.5": 3}
AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
NGFF_ORDER = "tczyx"
KEY = "napari_sisr"


def ngff_order(axes: str) -> list[int]:
    """Permutation that puts named axes into OME-NGFF order (t, c, z, y, x)."""
    bad = [a for a in axes if a not in NGFF_ORDER]
    if bad or len(set(axes)) != len(axes):
        raise InputError(
            f"OME-Zarr output needs axes named from 't', 'c', 'z', 'y', 'x' (each once); got "
            f"{axes!r}: pass axes= (e.g. 'tczyx')"
        )
    return sorted(range(len(axes)), key=lambda i: NGFF_ORDER.index(axes[i]))


def _chunk(block: int, full: int) -> int:
    """A zarr chunk length that divides the block length (blocks write whole chunks)."""
    g = math.gcd(block, 1024)
    return g if g >= 256 else min(block, full)


def pyramid_levels(shape_yx: Sequence[int], block_yx: Sequence[int], max_levels: int = 8) -> int:
    """Number of levels: halve while blocks stay divisible and the image is > 256 px."""
    n = 1
    for k in range(1, max_levels):
        f = 2**k
        ok = all(b % f == 0 or b >= s for b, s in zip(block_yx, shape_yx, strict=True))
        if not ok or max(shape_yx) / f < 256 or min(shape_yx) // f < 1:
            break
        n = k + 1
    return n


def _ranges(indices: Iterable[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for i in sorted(indices):
        if out and out[-1][1] == i:
            out[-1][1] = i + 1
        else:
            out.append([i, i + 1])
    return out


def _unranges(ranges) -> set[int]:
    return {i for a, b in ranges for i in range(int(a), int(b))}


def downsample2(a: np.ndarray) -> np.ndarray:
    """2x2 mean over the last two axes (odd remainders dropped), float64."""
    h, w = a.shape[-2] // 2 * 2, a.shape[-1] // 2 * 2
    a = a[..., :h, :w].astype(np.float64, copy=False)
    return (a[..., 0::2, 0::2] + a[..., 1::2, 0::2] + a[..., 0::2, 1::2] + a[..., 1::2, 1::2]) / 4


class OmeZarrWriter:
    """A multiscale OME-Zarr image filled block by block (picklable; opens lazily).

    Parameters
    ----------
    path : path-like
        Output folder (``.zarr``).
    shape : tuple of int
        Level-0 shape in OME-NGFF axis order.
    dtype : dtype
    axes : str
        Axis names in NGFF order, e.g. ``"cyx"`` or ``"tczyx"``.
    block : tuple of int
        Level-0 block (write unit) shape; blocks of the last two axes may be partial at the end.
    scale, translation : sequence of float
        Physical pixel size and offset of level 0 per axis.
    units : dict
        Unit per axis name (e.g. ``{"y": "micrometer"}``).
    ngff : {"0.4", "0.5"}
        OME-NGFF version: 0.4 on zarr v2 (default), or 0.5 on zarr v3 with one shard per
        block and level.
    """

    def __init__(
        self, path, shape, dtype, axes, block, scale, translation, units, name="", ngff="0.4"
    ):
        if ngff not in NGFF_VERSIONS:
            raise InputError(f"OME-Zarr version {ngff!r} is not written here: use 0.4 or 0.5")
        self.ngff = ngff
        self.path = Path(path)
        self.shape, self.dtype, self.axes = tuple(shape), np.dtype(dtype).str, axes
        self.block, self.scale, self.translation = tuple(block), list(scale), list(translation)
        self.units, self.name = dict(units), name
        self.levels = pyramid_levels(self.shape[-2:], self.block[-2:])
        self._arrays: list | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_arrays": None}

    # ------------------------------------------------------------------ job control
    def open(self, job: dict[str, Any], total: int, *, overwrite: bool = False) -> set[int]:
        """Create the store, or reopen an interrupted run of the same job.

        Returns the flat indices of blocks already written.
        """

        job = json.loads(json.dumps(job))
        if self.ngff != "0.4":  # a resumed job must not switch layouts
            job["ngff"] = self.ngff
        for stale in self.path.parent.glob(f".{self.path.name}.creating-*"):
            shutil.rmtree(stale, ignore_errors=True)  # a creation that was killed
        if self.path.exists():
            state = read_state(self.path)
            same = state is not None and state.get("job") == job and not state.get("complete")
            if same and not overwrite:
                return _unranges(state.get("done_chunks", []))
            if not overwrite:
                what = "a finished result" if state and state.get("complete") else "data"
                raise output_exists(self.path, f" ({what} of another job or a finished one)")
            shutil.rmtree(self.path) if self.path.is_dir() else os.remove(self.path)
        # Built beside the output and renamed into place: a store either does not exist or is
        # whole (arrays and job state), so a kill during creation leaves nothing to trip on.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}.creating-"))
        try:
            os.chmod(tmp, 0o777 & ~current_umask())  # as mkdir would make it, not 0700
            self._create(tmp, job, total)
            os.replace(tmp, self.path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return set()

    def _create(self, where: Path, job: dict, total: int) -> None:
        import zarr

        v3 = NGFF_VERSIONS[self.ngff] == 3
        group = zarr.open_group(str(where), mode="w", zarr_format=3 if v3 else 2)
        group.attrs[KEY] = {"complete": False, "done_chunks": [], "total_chunks": total, "job": job}
        for k in range(self.levels):
            shp = self._level_shape(k)
            lead = tuple(1 for _ in shp[:-2])
            pairs = list(zip(self.block[-2:], shp[-2:], strict=True))
            chunks = lead + tuple(_chunk(b // 2**k, s) for b, s in pairs)
            if v3:
                # One shard per block: each block task writes whole shards, never a shard
                # that another task also writes.
                shards = lead + tuple(min(b // 2**k, s) for b, s in pairs)
                inner = zip(chunks[-2:], shards[-2:], strict=True)
                chunks = lead + tuple(math.gcd(c, sh) for c, sh in inner)
                # NGFF 0.5 asks for dimension names
                layout = {"shards": shards, "dimension_names": list(self.axes)}
            else:
                layout = {"chunk_key_encoding": {"name": "v2", "separator": "/"}}
            group.create_array(
                str(k), shape=shp, chunks=chunks, dtype=self.dtype, fill_value=0, **layout
            )

    def mark(self, done: Iterable[int], total: int, complete: bool = False) -> None:
        """Record finished blocks (and completion) in the group attributes."""
        import zarr

        group = zarr.open_group(str(self.path), mode="r+")
        state = dict(group.attrs[KEY])
        state.update(done_chunks=_ranges(done), total_chunks=total, complete=complete)
        if complete and self.ngff == "0.4":
            group.attrs["multiscales"] = self._multiscales()
        elif complete:
            group.attrs["ome"] = {"version": self.ngff, "multiscales": self._multiscales()}
        group.attrs[KEY] = state

    def _level_shape(self, k: int) -> tuple[int, ...]:
        return self.shape[:-2] + tuple(s // 2**k for s in self.shape[-2:])

    def _multiscales(self) -> list[dict]:
        axes = []
        for a in self.axes:
            entry = {"name": a, "type": AXIS_TYPES[a]}
            if self.units.get(a):  # lengths by their UDUNITS-2 name, as NGFF requires
                entry["unit"] = length_unit(self.units[a]) or self.units[a]
            axes.append(entry)
        datasets = []
        for k in range(self.levels):
            f = [1.0] * (len(self.axes) - 2) + [2.0**k, 2.0**k]
            scale = [s * fi for s, fi in zip(self.scale, f, strict=True)]
            pairs = zip(self.translation, self.scale, f, strict=True)
            trans = [t + s * (fi - 1) / 2 for t, s, fi in pairs]
            datasets.append(
                {
                    "path": str(k),
                    "coordinateTransformations": [
                        {"type": "scale", "scale": scale},
                        {"type": "translation", "translation": trans},
                    ],
                }
            )
        version = {"version": "0.4"} if self.ngff == "0.4" else {}  # 0.5: in "ome" only
        return [
            {
                **version,
                "name": self.name,
                "axes": axes,
                "datasets": datasets,
                "type": "mean",
                "metadata": {"method": "2x2 mean of the level above", "software": "napari-sisr"},
            }
        ]

    # ------------------------------------------------------------------ writing
    def write(self, region: tuple[slice, ...], data: np.ndarray) -> None:
        """Write one block (NGFF layout) into level 0 and its share of every coarser level."""
        try:
            self._write(region, data)
        except OSError as err:
            kept = "the blocks written so far are kept: run the same job again to resume"
            raise write_failed(self.path, err, kept) from err

    def _write(self, region, data) -> None:
        import zarr

        if self._arrays is None:
            group = zarr.open_group(str(self.path), mode="r+")
            self._arrays = [group[str(k)] for k in range(self.levels)]
        self._arrays[0][region] = data
        cur = data
        for k in range(1, self.levels):
            cur = downsample2(cur)
            ys, xs = region[-2:]
            y0, x0 = ys.start // 2**k, xs.start // 2**k
            sub = region[:-2] + (
                slice(y0, y0 + cur.shape[-2]),
                slice(x0, x0 + cur.shape[-1]),
            )
            self._arrays[k][sub] = cast_to(cur, self.dtype)


def lock_dir() -> Path:
    """Where output locks live: the user cache folder (``NAPARI_SISR_CACHE_DIR`` moves it)."""
    env = os.environ.get("NAPARI_SISR_CACHE_DIR")
    if env:
        return Path(env) / "locks"
    import platformdirs

    return Path(platformdirs.user_cache_dir("napari-sisr", appauthor=False)) / "locks"


class StoreLock:
    """An exclusive lock on an output store for the lifetime of a job (POSIX ``flock``).

    Held by the process that runs the job, on a file in the user cache folder named after the
    store's absolute path (nothing is added beside the output); a second job on the same
    output is refused at once instead of interleaving with the first (or deleting it with
    ``overwrite``). The lock goes with the process, also when it is killed.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fh = None

    def acquire(self) -> StoreLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no flock (Windows): no lock
            return self
        import hashlib

        folder = lock_dir()
        folder.mkdir(parents=True, exist_ok=True)
        key = hashlib.sha1(str(self.path.resolve()).encode()).hexdigest()
        fh = open(folder / f"{key}.lock", "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise InputError(
                f"another job is writing {self.path} right now: wait for it, or write elsewhere"
            ) from None
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the file releases the lock
            self._fh = None


def read_state(path) -> dict | None:
    """The ``napari_sisr`` job state of an output folder, or ``None`` if it has none."""
    import zarr

    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception:  # noqa: BLE001 - not a zarr group at all
        return None
    state = group.attrs.get(KEY)
    return dict(state) if isinstance(state, dict) else None


def check_complete(path, attrs: dict) -> None:
    """Raise ``ValueError`` if ``attrs`` mark an interrupted napari-sisr output."""
    state = attrs.get(KEY)
    if isinstance(state, dict) and state.get("complete") is False:
        done = len(_unranges(state.get("done_chunks", [])))
        raise InputError(
            f"{path} is an incomplete napari-sisr output ({done} of "
            f"{state.get('total_chunks', '?')} blocks written): run the same job again to "
            "resume it"
        )


def read_ngff_metadata(path, level: int = 0) -> dict[str, Any]:
    """Axis names, pixel sizes, offsets and units of an OME-Zarr image level (any NGFF
    version, local or remote: see :mod:`.ngff`); ``{}`` for a group without multiscales."""
    from .ngff import open_group, read_multiscales

    ms = read_multiscales(open_group(path))
    if ms is None or not ms.paths:
        return {}
    return ms.level(min(level, len(ms.paths) - 1))
