"""Reading and writing images: TIFF / OME-TIFF, PNG, JPEG, zarr / OME-Zarr.

Readers return numpy arrays for small files. :func:`open_lazy` returns a dask array that reads
chunks on demand (TIFF through ``tifffile.aszarr``, zarr directly), so large inputs are never
loaded whole.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from ..errors import InputError, InputNotFoundError, InputTypeError, describe, output_exists
from .dtypes import check_dtype
from .guard import check_whole_read, not_special, regular_file, staged

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2")
PLAIN_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
ZARR_SUFFIXES = (".zarr", ".ome.zarr")


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a whole image file into memory.

    TIFF and OME-TIFF via tifffile; PNG, JPEG and others via imageio; zarr via :func:`open_lazy`.
    The size the file declares is checked against the memory budget before anything is
    allocated (:func:`~napari_sisr.core.io.guard.check_whole_read`); a pipe, a device or a
    damaged file is refused with a message naming it.
    """
    path = Path(path)
    suffix = _suffix(path)
    if path.is_dir() or suffix in ZARR_SUFFIXES:
        lazy = open_lazy(path)
        check_whole_read(lazy.shape, lazy.dtype, str(path))
        return np.asarray(lazy)
    regular_file(path, "image file")
    if suffix in TIFF_SUFFIXES:
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                check_whole_read(series.shape, series.dtype, str(path))
                arr = series.asarray()
        except InputError:
            raise
        except Exception as err:  # tifffile raises several types for broken files
            raise InputError(f"could not read TIFF {path}: {describe(err)}") from None
    else:
        arr = _read_plain(path)
    arr = np.asarray(arr)
    check_dtype(arr, str(path))
    return arr


def _read_plain(path: Path) -> np.ndarray:
    """PNG, JPEG and the other formats imageio reads, size checked from the header first."""
    import imageio.v3 as iio

    try:
        props = iio.improps(path)
        check_whole_read(props.shape, props.dtype, str(path))
        return iio.imread(path)
    except InputError:
        raise
    except Exception as err:  # decoders raise many types; a decompression bomb is one
        raise InputError(f"could not read image {path}: {describe(err)}") from None


def open_lazy(path: str | os.PathLike, level: int = 0):
    """Open an image as a lazy dask array, reading chunks only when computed.

    Parameters
    ----------
    path : path-like
        TIFF / OME-TIFF (memory-mapped through ``tifffile.aszarr``), a zarr array, or an
        OME-Zarr image (multiscale level ``level``). Other formats are read whole.
    level : int
        Pyramid level for multiscale sources (0 = full resolution).
    """
    import dask.array as da

    from .ngff import is_url

    if is_url(path):
        out = open_zarr(str(path), level)[0]
        check_dtype(out, str(path))
        return out
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"image not found: {path}")
    not_special(path, "image")
    suffix = _suffix(path)
    if suffix in TIFF_SUFFIXES:
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                n_levels = len(tif.series[0].levels) if tif.series else 1
        except Exception as err:  # noqa: BLE001 - tifffile raises several types
            raise InputError(f"could not read TIFF {path}: {describe(err)}") from None
        if not 0 <= level < n_levels:
            raise InputError(f"{path} has {n_levels} pyramid level(s); level {level} requested")
        arr = TiffLevel(path, level)
        meta = np.empty((0,) * arr.ndim, arr.dtype)
        out = da.from_array(arr, chunks=arr.chunks, asarray=True, lock=False, meta=meta)
    elif path.is_dir() or suffix in ZARR_SUFFIXES:
        out = open_zarr(path, level)[0]
    else:
        out = da.from_array(read_image(path), chunks="auto")
    check_dtype(out, str(path))
    return out


_TIFF_OPEN = threading.Lock()


class TiffLevel:
    """One pyramid level of a TIFF's first series as an array read on demand.

    tifffile's zarr store holds an open file and a lock, neither of which can be sent to the
    workers of a dask cluster; this object carries only the path and the level, and each
    process that reads from it opens the file once for itself. So a TIFF input runs on a
    cluster as it does in one process.
    """

    def __init__(self, path: str | os.PathLike, level: int = 0) -> None:
        self.path, self.level = str(path), int(level)
        try:
            arr = self._array()
        except Exception as err:  # noqa: BLE001 - tifffile and zarr raise many types
            raise InputError(f"could not read TIFF {path}: {describe(err)}") from None
        self.shape = tuple(int(n) for n in arr.shape)
        self.dtype = np.dtype(arr.dtype)
        self.chunks = tuple(int(n) for n in arr.chunks)
        self.ndim = len(self.shape)

    def _array(self):
        arr = self.__dict__.get("_arr")
        if arr is None:
            import tifffile
            import zarr

            with _TIFF_OPEN:
                arr = self.__dict__.get("_arr")
                if arr is None:
                    store = tifffile.imread(self.path, aszarr=True, level=self.level)
                    node = zarr.open(store, mode="r")
                    arr = node if hasattr(node, "shape") else node[str(self.level)]
                    self._arr = arr
        return arr

    def __getitem__(self, key):
        try:
            return np.asarray(self._array()[key])
        except Exception as err:  # noqa: BLE001 - decoder errors of a damaged file
            raise InputError(f"could not read TIFF {self.path}: {describe(err)}") from None

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_arr"}

    def __repr__(self) -> str:
        return f"TiffLevel({self.path!r}, level={self.level})"


def open_zarr(location, level: int = 0):
    """A zarr array or an OME-Zarr image (any NGFF version, local or remote), opened and its
    metadata parsed once.

    Returns the dask array of level ``level`` and that level's metadata (axes, units, pixel
    size, offset, number of levels; ``{}`` for a plain array).
    """

    from .ngff import open_group, read_multiscales
    from .omezarr import check_complete

    node = open_group(location)
    if hasattr(node, "shape"):
        return _guarded_zarr(node, location), {}
    check_complete(location, dict(node.attrs))  # interrupted napari-sisr output: refuse
    ms = read_multiscales(node)
    if ms is None or not ms.paths:
        raise InputError(f"{location} is a zarr group without OME multiscales metadata")
    if level >= len(ms.paths):
        raise InputError(f"{location} has {len(ms.paths)} levels; level {level} requested")
    path = ms.paths[level]
    if path.startswith("/") or ".." in path.split("/"):
        raise InputError(f"{location}: level {level}'s dataset path {path!r} leaves the store")
    try:
        arr = node[path]
    except Exception as err:  # noqa: BLE001 - a missing or unreadable level
        raise InputError(
            f"{location}: level {level} ({path!r}) cannot be read: {describe(err)}"
        ) from None
    if not hasattr(arr, "shape"):
        raise InputError(f"{location}: level {level} ({path!r}) is not an array")
    return _guarded_zarr(arr, location), ms.level(level)


class ZarrLevel:
    """A zarr array read on demand whose decoding errors (a chunk cut short or corrupt, an
    unknown codec) become input errors naming the store."""

    def __init__(self, arr, location) -> None:
        self.arr, self.location = arr, str(location)
        self.shape, self.dtype, self.ndim = tuple(arr.shape), np.dtype(arr.dtype), arr.ndim
        self.chunks = tuple(arr.chunks)

    def __getitem__(self, key):
        try:
            return np.asarray(self.arr[key])
        except Exception as err:  # noqa: BLE001 - codecs and stores raise many types
            raise InputError(f"could not read {self.location}: {describe(err)}") from None


def _guarded_zarr(arr, location):
    import dask.array as da

    try:
        dtype = np.dtype(arr.dtype)
    except TypeError:
        raise InputError(f"{location} holds {arr.dtype} values, not image intensities") from None
    if dtype.kind == "O":
        raise InputError(f"{location} holds Python objects, not image intensities")
    level = ZarrLevel(arr, location)
    meta = np.empty((0,) * level.ndim, dtype)
    return da.from_array(level, chunks=level.chunks, asarray=True, lock=False, meta=meta)


def write_tiff(path: str | os.PathLike, data: np.ndarray, *, overwrite: bool = True) -> Path:
    """Write an array as TIFF, atomically (see :func:`~napari_sisr.core.io.guard.staged`)."""
    import tifffile

    path = Path(path)
    if path.exists() and not overwrite:
        raise output_exists(path)
    with staged(path) as tmp:
        tifffile.imwrite(tmp, np.asarray(data))
    return path


def write_image(path: str | os.PathLike, data: np.ndarray, *, overwrite: bool = True) -> Path:
    """Write an image in the format its suffix names, atomically.

    TIFF (``.ome.tif`` / ``.ome.tiff`` with OME-XML metadata) takes any dtype; PNG takes 8- or
    16-bit integers; JPEG takes 8-bit integers (quality 95). The data go to a temporary file
    created exclusively in the same folder and renamed into place
    (:func:`~napari_sisr.core.io.guard.staged`), so a failed write leaves no partial image and
    a link planted in the folder is never written through.
    """
    path = Path(path)
    data = np.asarray(data)
    if path.exists() and not overwrite:
        raise output_exists(path)
    name = path.name.lower()
    suffix = _suffix(path)
    if suffix in (".png", ".jpg", ".jpeg"):
        allowed = (np.uint8, np.uint16) if suffix == ".png" else (np.uint8,)
        if data.dtype not in allowed:
            kinds = " or ".join(np.dtype(t).name for t in allowed)
            raise InputTypeError(
                f"{suffix[1:].upper()} holds {kinds} images, not {data.dtype}: convert the data "
                "or write a TIFF"
            )
    elif suffix not in TIFF_SUFFIXES:
        raise InputError(f"cannot write {path.name}: use a .tif, .ome.tif, .png or .jpg name")
    with staged(path) as tmp:
        if suffix in TIFF_SUFFIXES:
            import tifffile

            ome = name.endswith((".ome.tif", ".ome.tiff"))
            tifffile.imwrite(tmp, data, ome=ome)
        else:
            import imageio.v3 as iio

            kwargs = {"quality": 95} if suffix != ".png" else {}
            iio.imwrite(tmp, data, extension=suffix, **kwargs)
            _check_written(tmp, data.shape, path)
    return path


def _check_written(tmp: Path, shape, path: Path) -> None:
    """Read a PNG / JPEG back: an encoder that met a full disk can leave a truncated file
    without raising."""
    import imageio.v3 as iio

    try:
        ok = tuple(iio.imread(tmp).shape) == tuple(shape)
    except Exception:  # noqa: BLE001 - any decoding failure means the file is not whole
        ok = False
    if not ok:
        raise InputError(
            f"could not write {path}: the file came out incomplete (is the disk full?)"
        )


def to_gray(arr: np.ndarray, channel: int | None = None, *, rgb: bool | None = None) -> np.ndarray:
    """Reduce an image to one 2D plane for fitting.

    ``channel`` picks one channel (last axis for RGB, first axis for a channel-first stack);
    otherwise RGB(A) becomes its luminance (Rec. 709 weights). Other shapes must already be 2D.
    """
    arr = np.asarray(arr)
    if arr.ndim == 2:
        if channel not in (None, 0):
            raise InputError(f"image is single-channel; channel {channel} does not exist")
        return arr
    is_rgb = rgb if rgb is not None else (arr.ndim == 3 and arr.shape[-1] in (3, 4))
    if arr.ndim == 3:
        axis = -1 if is_rgb else 0
        nch = arr.shape[axis]
        if channel is not None:
            if not 0 <= channel < nch:
                raise InputError(f"channel {channel} out of range: image has {nch} channels")
            return np.take(arr, channel, axis=axis)
        if is_rgb:
            rgb3 = arr[..., :3].astype(np.float64)
            return rgb3 @ np.array([0.2126, 0.7152, 0.0722])
    raise InputError(
        f"expected a 2D image (or RGB / channel stack with --channel), got shape {arr.shape}"
    )
