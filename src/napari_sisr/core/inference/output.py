"""Where a job's result goes: memory, an OME-Zarr folder (resumable) or a TIFF file."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError, output_exists
from ..io.guard import check_whole_read, staged
from ..io.omezarr import OmeZarrWriter, StoreLock, ngff_order
from ..io.units import ome_symbol
from .execute import NumpySink, ZarrSink, iter_execute, local_workers, store_graph
from .planes import WAVE_BLOCKS_PER_WORKER, in_waves

log = logging.getLogger(__name__)

TIFF_SUFFIXES = (".tif", ".tiff")
TIFF_LIMIT_BYTES = 4 << 30
MARK_EVERY_S = 2.0


class MemoryTarget:
    """Compute into a numpy array in the input's layout."""

    def __init__(self, job, client=None):
        self.job, self.client = job, client
        self.done: set[int] = set()
        lazy = job.lazy
        self.out = np.zeros(lazy.shape, dtype=lazy.dtype)

    def run(self, stop, num_workers) -> Iterator[list[int]]:
        """Compute the blocks not yet done; yields the positions (in ``job.order``) of each
        batch of finished blocks."""
        job = self.job
        sink = NumpySink(self.out, job.inp.layout)
        if self.client is None:
            graph, keys, index = store_graph(job.internal, job.order, sink, self.done)
            n = local_workers(num_workers)
            leads = [job.order[index[k]][0] for k in keys]
            for wave in in_waves(keys, leads, WAVE_BLOCKS_PER_WORKER * n):  # planes in order
                for batch in iter_execute(graph, wave, stop=stop, num_workers=n):
                    idx = [index[k] for k, _ in batch]
                    self.done.update(idx)
                    yield idx
            return
        arr = job.internal
        keys = [(arr.name, *lead, *b.index, 0) for lead, b in job.order]
        index = {k: i for i, k in enumerate(keys)}
        for batch in iter_execute(arr.dask, keys, stop=stop, client=self.client):
            for k, block in batch:
                lead, b = job.order[index[k]]
                sink.put(lead, b.dst[0], b.dst[1], block)
            idx = [index[k] for k, _ in batch]
            self.done.update(idx)
            yield idx

    def finish(self):
        return self.out

    def partial(self, planes: int):
        """The first ``planes`` complete planes along the first leading axis, as a
        :class:`~napari_sisr.core.progress.Partial`, or ``None``."""
        from ..progress import Partial

        lead = self.job.inp.layout.lead
        if not lead or planes <= 0:
            return None
        axis = lead[0]
        region = [slice(None)] * self.out.ndim
        region[axis] = slice(0, planes)
        kept = self.out[tuple(region)].copy()  # not a view: the whole result can be freed
        return Partial(kept, planes, self.out.shape[axis], axis)

    def close(self) -> None:
        """Nothing to release."""


#: dtypes an OME-TIFF holds (OME-XML pixel types).
TIFF_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64")


class TiffTarget(MemoryTarget):
    """Compute in memory, then write an OME-TIFF with physical pixel sizes (atomically)."""

    def __init__(self, job, path: Path, overwrite: bool, client=None):
        if path.exists() and not overwrite:
            raise output_exists(path)
        dtype = np.dtype(job.lazy.dtype)
        if dtype.name not in TIFF_DTYPES:
            raise InputError(
                f"an OME-TIFF cannot hold {dtype} values: pass dtype='float32' (--dtype float32) "
                "or write an OME-Zarr folder (.zarr)"
            )
        if job.lazy.ndim > 5:
            raise InputError(
                f"an OME-TIFF holds at most 5 axes (t, c, z, y, x), the result has "
                f"{job.lazy.ndim}: write an OME-Zarr folder (.zarr)"
            )
        nbytes = math.prod(job.lazy.shape) * np.dtype(job.lazy.dtype).itemsize
        if nbytes > TIFF_LIMIT_BYTES:
            raise InputError(
                f"the result is {nbytes / 2**30:.1f} GiB: too large for a TIFF made in memory; "
                "write to an OME-Zarr folder (.zarr) instead"
            )
        super().__init__(job, client)
        self.path = path

    def finish(self):
        write_sr_tiff(self.path, self.out, self.job)
        return self.out

    def partial(self, planes: int):
        """Nothing: a TIFF is written whole or not at all."""
        return None


def _ome_axes(job, data: np.ndarray) -> tuple[str, np.ndarray, bool]:
    """The OME-TIFF axes of a result, the data in that order, and whether it is RGB.

    Leading axes that had no name get distinct unused letters (two "Q" axes are not OME); a
    channel axis that is last but not RGB moves before Y and X (OME's samples axis holds
    colours only); ``""`` when the axes cannot be named.
    """
    axes = (job.inp.axes or "").upper()
    if not axes or len(axes) != data.ndim:
        return "", data, False
    if job.inp.axes_guessed:  # unnamed leading axes stay unnamed ("Q"), not "Z"
        lead = job.inp.layout.lead
        used = {a for i, a in enumerate(axes) if i not in lead}
        free = [a for a in "QTZ" if a not in used]
        named = list(axes)
        for i in lead:
            named[i] = free.pop(0) if free else "?"
        axes = "".join(named)
    rgb = job.inp.layout.channel == data.ndim - 1 and data.shape[-1] in (3, 4)
    if rgb:
        axes = axes[:-1] + "S"
    elif axes[-1] == "C":
        data = np.moveaxis(data, -1, -3)
        axes = axes[:-3] + "C" + axes[-3:-1]
    if "?" in axes or len(set(axes)) != len(axes):
        return "", data, rgb
    return axes, data, rgb


def write_sr_tiff(path: Path, data: np.ndarray, job) -> Path:
    """Write a result as OME-TIFF with the output pixel sizes, via a temporary file."""
    import tifffile

    scale, _, units = job.out_axes_scale()
    given = (job.inp.axes or "").upper()
    axes, data, rgb = _ome_axes(job, data)
    meta: dict = {"axes": axes} if axes else {}
    for a, s in zip(given, scale, strict=False):
        unit = ome_symbol(units.get(a.lower(), "micrometer"))
        if axes and a in "XYZ" and a.lower() in job.inp.pixel_size and unit is not None:
            meta[f"PhysicalSize{a}"] = s
            meta[f"PhysicalSize{a}Unit"] = unit
    with staged(path) as tmp:  # a full disk or a failure: no partial file left
        tifffile.imwrite(tmp, data, ome=True, metadata=meta, photometric="rgb" if rgb else None)
    return path


class ZarrTarget:
    """Stream blocks into a resumable multiscale OME-Zarr (see :mod:`.omezarr`)."""

    def __init__(self, job, path: Path, overwrite: bool, client=None):
        self.job, self.client, self.path = job, client, path
        axes = job.inp.axes
        if not axes:
            raise InputError("cannot name the image's axes for OME-Zarr: pass axes= (e.g. 'tzyx')")
        self.perm = ngff_order(axes)
        lazy = job.lazy
        scale, trans, units = job.out_axes_scale()
        layout = job.inp.layout
        block_user = [1] * lazy.ndim
        if layout.channel is not None:
            block_user[layout.channel] = lazy.shape[layout.channel]
        block_user[layout.spatial[0]] = job.internal.chunks[-3][0]
        block_user[layout.spatial[1]] = job.internal.chunks[-2][0]
        p = self.perm
        self.writer = OmeZarrWriter(
            path,
            [lazy.shape[i] for i in p],
            lazy.dtype,
            "".join(axes[i] for i in p),
            [block_user[i] for i in p],
            [scale[i] for i in p],
            [trans[i] for i in p],
            units,
            name=job.inp.name,
            ngff=job.ngff,
        )
        self.total = len(job.order)
        self.lock = StoreLock(path).acquire()  # one job per output store
        try:
            self.done = self.writer.open(job.job_key(), self.total, overwrite=overwrite)
        except BaseException:
            self.lock.release()
            raise

    def close(self) -> None:
        """Release the output store (the job ended, one way or another)."""
        self.lock.release()

    def run(self, stop, num_workers) -> Iterator[list[int]]:
        job = self.job
        sink = ZarrSink(self.writer, job.inp.layout, self.perm)
        graph, keys, index = store_graph(job.internal, job.order, sink, self.done)
        n = local_workers(num_workers)
        last = time.monotonic()
        try:
            for batch in iter_execute(graph, keys, stop=stop, client=self.client, num_workers=n):
                idx = [index[k] for k, _ in batch]
                self.done.update(idx)
                if time.monotonic() - last > MARK_EVERY_S:
                    self.writer.mark(self.done, self.total)
                    last = time.monotonic()
                yield idx
        except BaseException:
            self.writer.mark(self.done, self.total, complete=False)
            raise

    def partial(self, planes: int):
        """Nothing apart: the store keeps every finished block, and the same job resumes it."""
        return None

    def finish(self):
        import dask.array as da

        if len(self.done) != self.total:  # pragma: no cover - guarded by run()
            raise RuntimeError(f"{len(self.done)} of {self.total} blocks written")
        self.writer.mark(self.done, self.total, complete=True)
        arr = da.from_zarr(str(self.path / "0"))
        inverse = list(np.argsort(self.perm))
        return arr.transpose(inverse)


def open_target(job, out, *, overwrite: bool = False, client=None):
    """The output target for ``out`` (``None``, ``*.tif``, or an OME-Zarr folder)."""
    if out is None or Path(out).suffix.lower() in TIFF_SUFFIXES:
        remedy = "write it to an OME-Zarr folder (out='result.ome.zarr'), which is streamed"
        check_whole_read(job.lazy.shape, job.lazy.dtype, "the result", remedy)
    if out is None:
        return MemoryTarget(job, client)
    path = Path(out)
    if path.suffix.lower() in TIFF_SUFFIXES:
        return TiffTarget(job, path, overwrite, client)
    if path.exists() and path.is_file():
        raise InputError(f"{path} exists and is a file, not an OME-Zarr folder")
    return ZarrTarget(job, path, overwrite, client)
