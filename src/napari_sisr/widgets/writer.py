"""napari's *File > Save Selected Layers...* as OME-Zarr: an image layer written by the same
multiscale writer as the super-resolution results (OME-NGFF 0.4 on zarr format 2, a 2x2-mean
pyramid), with its pixel sizes, offsets, units and axis names.

The store is built block by block and marked complete only at the end; a failure removes
it, so no half-written image is left looking finished. An existing folder is replaced only
when it is a zarr store (napari's save dialog has asked about replacing it); any other folder
is refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ._layers import LayerSnapshot

__all__ = ["write_ome_zarr"]

#: Level-0 block side (pixels) of the written store.
BLOCK = 1024


def _target(path: str) -> Path:
    out = Path(path)
    if not out.name.endswith(".zarr"):
        out = out.with_name(out.name + ".ome.zarr")
    return out


def _check_replaceable(out: Path) -> None:
    from ..core.errors import InputError

    if out.exists() and not any((out / f).exists() for f in (".zgroup", "zarr.json")):
        raise InputError(f"{out} exists and is not a zarr store: choose another name")


def write_ome_zarr(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 writer: one image layer (``data``, napari's layer ``meta``) to ``path``."""
    import dask.array as da

    from ..core.errors import InputError
    from ..core.inference.input import canonical_input
    from ..core.io.omezarr import OmeZarrWriter, ngff_order

    out = _target(path)
    _check_replaceable(out)
    layer = LayerSnapshot.from_meta(data, meta)
    level0 = layer.data
    inp = canonical_input(layer)
    if not inp.axes:
        raise InputError(f"cannot name the axes of a {np.ndim(level0)}D image for OME-Zarr")
    perm = ngff_order(inp.axes)
    axes = "".join(inp.axes[i] for i in perm)
    arr = da.asarray(level0).transpose(perm)
    shape = tuple(int(n) for n in arr.shape)
    block = (1,) * (len(shape) - 2) + tuple(min(BLOCK, n) for n in shape[-2:])
    scale = [1.0 if a == "c" else float(inp.pixel_size.get(a, 1.0)) for a in axes]
    translation = [0.0 if a == "c" else float(inp.translate.get(a, 0.0)) for a in axes]
    writer = OmeZarrWriter(
        out, shape, arr.dtype, axes, block, scale, translation, inp.units, name=layer.name
    )
    regions = [
        tuple(slice(i, i + 1) for i in lead) + (slice(y, y + block[-2]), slice(x, x + block[-1]))
        for lead in np.ndindex(*shape[:-2])
        for y in range(0, shape[-2], block[-2])
        for x in range(0, shape[-1], block[-1])
    ]
    writer.open({"writer": "napari", "layer": layer.name}, len(regions), overwrite=True)
    try:
        for region in regions:
            writer.write(region, np.asarray(arr[region]))
        writer.mark(range(len(regions)), len(regions), complete=True)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return [str(out)]
