"""Turn whatever the user passes as an image into one lazy layout for inference.

Accepted: numpy, dask and zarr arrays, other array-likes, napari multiscale lists, objects with
napari layer attributes (``data``, ``rgb``, ``multiscale``, ``scale``, ``translate``) and file
paths (TIFF / OME-TIFF, PNG / JPEG, zarr / OME-Zarr). Inside, the image is a dask array of
shape ``(lead..., Y, X, C)``: the channel axis (RGB, or ``channel_axis``) is moved last, or a
length-1 axis is added. :class:`Layout` maps blocks and results back to the user's layout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, InputNotFoundError, InputTypeError
from ..io.dtypes import check_dtype


@dataclass(frozen=True)
class Layout:
    """How the user's axes map to the internal ``(lead..., Y, X, C)`` layout."""

    ndim: int
    channel: int | None  # user axis moved to the internal last axis (None: one was added)

    @property
    def spatial(self) -> tuple[int, int]:
        """User axis indices of Y and X (the last two axes that are not the channel axis)."""
        rest = [i for i in range(self.ndim) if i != self.channel]
        return rest[-2], rest[-1]

    @property
    def lead(self) -> list[int]:
        """User axis indices of the internal leading axes, in order."""
        return [i for i in range(self.ndim) if i != self.channel and i not in self.spatial]

    def to_internal(self, x):
        if self.channel is None:
            return x[..., None]
        return np.moveaxis(x, self.channel, -1)

    def to_user(self, y):
        """Internal-layout array (numpy or dask) -> user layout."""
        if self.channel is None:
            return y[..., 0]
        return np.moveaxis(y, -1, self.channel)

    def user_region(self, lead_idx: tuple[int, ...], ys: slice, xs: slice) -> tuple[slice, ...]:
        """Region of the user-layout output covered by one internal block."""
        region = [slice(None)] * self.ndim
        for ax, i in zip(self.lead, lead_idx, strict=True):
            region[ax] = slice(i, i + 1)
        region[self.spatial[0]], region[self.spatial[1]] = ys, xs
        return tuple(region)


@dataclass
class SRInput:
    """A canonicalised input image."""

    data: Any  # dask array, internal layout
    layout: Layout
    dtype: np.dtype
    axes: str | None = None  # user-layout axis names when known
    pixel_size: dict[str, float] = field(default_factory=dict)
    translate: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    name: str = "image"
    #: ``axes`` were guessed from the shape (no names given, none in the file): a leading
    #: axis named "z" may as well be time.
    axes_guessed: bool = False
    #: What the file says of the optics: ``na`` and ``wavelength_nm`` (emission) when known.
    optics: dict[str, float] = field(default_factory=dict)

    @property
    def plane_shape(self) -> tuple[int, int]:
        return tuple(self.data.shape[-3:-1])


def _to_dask(arr, chunk_yx: int = 1024):
    import dask.array as da

    if isinstance(arr, da.Array):
        return arr
    if not hasattr(arr, "shape") or not hasattr(arr, "dtype"):
        arr = np.asarray(arr)
    try:
        import zarr

        if isinstance(arr, zarr.Array):
            return da.from_zarr(arr)
    except ImportError:  # pragma: no cover
        pass
    chunks = tuple([1] * (len(arr.shape) - 2) + [chunk_yx, chunk_yx])
    if len(arr.shape) >= 3 and arr.shape[-1] in (3, 4):
        chunks = tuple([1] * (len(arr.shape) - 3) + [chunk_yx, chunk_yx, -1])
    return da.from_array(arr, chunks=chunks, asarray=isinstance(arr, np.ndarray))


def guess_rgb(shape: tuple[int, ...]) -> bool:
    """napari's rule: a last axis of 3 or 4 on an image of at least 3 dimensions."""
    return len(shape) >= 3 and shape[-1] in (3, 4) and min(shape[-3:-1]) > 4


def _open_path(path: Path, level: int) -> tuple[Any, dict[str, Any]]:
    """Lazy array and metadata of a file or folder."""
    from ..io.dtypes import check_dtype
    from ..io.images import PLAIN_SUFFIXES, TIFF_SUFFIXES, open_lazy, open_zarr
    from ..io.ngff import is_url

    if is_url(path) or path.is_dir():  # zarr / OME-Zarr: opened and parsed once
        arr, meta = open_zarr(path, level)
        check_dtype(arr, str(path))
        return arr, meta
    if not path.exists():
        raise InputNotFoundError(f"image not found: {path}")
    arr = open_lazy(path, level=level)
    meta: dict[str, Any] = {}
    if path.suffix.lower() in PLAIN_SUFFIXES and arr.ndim == 3 and arr.shape[-1] in (2, 3, 4):
        meta["axes"] = "yxc"  # grey + alpha, RGB, RGBA: the channels are last
    if path.suffix.lower() in TIFF_SUFFIXES:
        from ..io.metadata import read_tiff_metadata

        meta = read_tiff_metadata(path)
        if "axes" in meta and len(meta["axes"]) != arr.ndim:
            meta.pop("axes")
    return arr, meta


def canonical_input(
    image,
    *,
    rgb: bool | None = None,
    channel_axis: int | None = None,
    axes: str | None = None,
    level: int = 0,
    pixel_size: float | tuple | dict | None = None,
) -> SRInput:
    """Build the internal view of ``image`` (see the module docstring)."""
    image, meta, name, rgb, placement = _source(_plain_input(image), rgb, level)
    layer_scale, layer_translate = placement
    if isinstance(image, list | tuple) and not (image and hasattr(image[0], "shape")):
        try:  # nested lists of numbers: an array
            image = np.asarray(image)
        except ValueError:
            raise InputError("the image is a ragged list: give an array") from None
    if isinstance(image, list | tuple) and image and hasattr(image[0], "shape"):
        levels = list(image)
        if not 0 <= level < len(levels):
            raise InputError(f"multiscale image has {len(levels)} levels; level {level} requested")
        if layer_scale is not None and level:
            f = np.array(levels[0].shape, float) / np.array(levels[level].shape, float)
            layer_scale = tuple(np.array(layer_scale[-len(f) :]) * f)
        image = levels[level]
    check_dtype(image, "image")
    data = _to_dask(image)
    shape = tuple(data.shape)
    axes = axes or meta.get("axes")
    channel_axis = _channel_axis(shape, axes, channel_axis, rgb)
    axes = axes.lower() if axes is not None else None
    min_nd = 3 if channel_axis is not None else 2
    if len(shape) < min_nd:
        raise InputError(f"expected an image of at least {min_nd} dimensions, got shape {shape}")
    layout = Layout(len(shape), channel_axis)
    guessed = axes is None
    if axes is None:
        axes = _guess_axes(layout)
    sizes, units, trans = _physical(axes, meta, pixel_size, layer_scale, layer_translate)
    internal = layout.to_internal(data)
    optics = dict(meta.get("optics") or {})
    return SRInput(
        internal, layout, np.dtype(data.dtype), axes, sizes, trans, units, name, guessed, optics
    )


def _source(image, rgb, level: int):
    """The pixels of a path or a layer (else ``image`` itself), with the metadata found, a
    name, the RGB flag, and a layer's scale and translate."""
    meta: dict[str, Any] = {}
    name = "image"
    placement = (None, None)
    if isinstance(image, str | os.PathLike):
        from ..io.ngff import is_url

        remote = is_url(image)
        path = str(image) if remote else Path(image)
        base = str(image).rstrip("/").rsplit("/", 1)[-1] if remote else path.name
        name = base.split(".")[0] or name
        image, meta = _open_path(path, level)
    elif hasattr(image, "data") and hasattr(image, "multiscale") and not hasattr(image, "dtype"):
        layer = image  # a napari layer (duck-typed: core never imports napari)
        name = str(getattr(layer, "name", name))
        if rgb is None:
            rgb = bool(getattr(layer, "rgb", False))
        placement = (
            tuple(getattr(layer, "scale", ()) or ()) or None,
            tuple(getattr(layer, "translate", ()) or ()) or None,
        )
        meta.update(_layer_axes_units(layer))
        ours = (getattr(layer, "metadata", None) or {}).get("napari_sisr") or {}
        if isinstance(ours.get("optics"), dict):  # the file's optics (napari-sisr's reader)
            meta["optics"] = dict(ours["optics"])
        image = list(layer.data) if getattr(layer, "multiscale", False) else layer.data
    return image, meta, name, rgb, placement


def _channel_axis(shape: tuple, axes: str | None, channel_axis, rgb) -> int | None:
    """The channel axis from the axis names, the argument, or the RGB rule (checked)."""
    if axes is not None:
        axes = axes.lower()
        if len(axes) != len(shape):
            raise InputError(f"axes {axes!r} do not match the image's {len(shape)} dimensions")
        if len(set(axes)) != len(axes) or not set(axes) <= set("tczyx"):
            raise InputError(f"axes {axes!r} must name each of t, c, z, y, x at most once")
        if channel_axis is None and "c" in axes:
            channel_axis = axes.index("c")
    if channel_axis is not None:
        if not -len(shape) <= int(channel_axis) < len(shape):
            raise InputError(
                f"channel_axis {channel_axis} does not exist in an image of shape {shape}"
            )
        return int(channel_axis) % len(shape)
    if rgb or (rgb is None and guess_rgb(shape)):
        return len(shape) - 1
    return None


def _plain_input(image):
    """Refuse what cannot be an image, by name; a torch tensor becomes its numpy array."""
    if image is None:
        raise InputError("no image given (None): pass an array, a layer or a file path")
    if isinstance(image, dict | set | bytes):
        raise InputTypeError(
            f"a {type(image).__name__} is not an image: pass an array, a layer or a file path"
        )
    if type(image).__module__.split(".")[0] == "torch" and hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    if isinstance(image, np.ndarray):
        check_dtype(image, "image")
        if image.ndim < 2:
            raise InputError(f"expected an image of at least 2 dimensions, got shape {image.shape}")
    return image


def _guess_axes(layout: Layout) -> str | None:
    names = [""] * layout.ndim
    names[layout.spatial[0]], names[layout.spatial[1]] = "y", "x"
    if layout.channel is not None:
        names[layout.channel] = "c"
    lead = layout.lead
    if len(lead) > 2:
        return None
    for ax, n in zip(lead, "tz"[-len(lead) :] if lead else "", strict=True):
        names[ax] = n
    return "".join(names)


def _layer_axes_units(layer) -> dict[str, Any]:
    """Axis names and units of a napari layer (``axis_labels`` / ``units``, napari >= 0.6):
    names only when every label is one of t, c, z, y, x; units other than napari's default
    "pixel", keyed by axis name (or by the last two axes, y and x, without names)."""
    out: dict[str, Any] = {}
    labels = [str(a).lower() for a in (getattr(layer, "axis_labels", None) or ())]
    named = bool(labels) and set(labels) <= set("tczyx") and len(set(labels)) == len(labels)
    if named and not (getattr(layer, "rgb", False) and "c" in labels):
        # an RGB layer's labels leave out its colour axis (the last one of the data)
        out["axes"] = "".join(labels) + ("c" if getattr(layer, "rgb", False) else "")
    units = [str(u) for u in (getattr(layer, "units", None) or ())]
    names = labels if named else ([""] * (len(units) - 2) + ["y", "x"])[-len(units) :]
    found = {a: u for a, u in zip(names, units, strict=False) if a and u not in ("pixel", "")}
    if found:
        out["units"] = found
    return out


def _physical(axes, meta, pixel_size, layer_scale, layer_translate):
    """Pixel sizes, units and offsets per axis name from arguments, layer or file metadata."""
    sizes: dict[str, float] = dict(meta.get("scale", {}))
    units: dict[str, str] = dict(meta.get("units", {}))
    trans: dict[str, float] = dict(meta.get("translation", {}))
    if axes and layer_scale is not None:
        names = [a for a in axes if a != "c"]
        for a, v in zip(names[-len(layer_scale) :], layer_scale[-len(names) :], strict=False):
            sizes[a] = float(v)
        if layer_translate:
            for a, v in zip(names[-len(layer_translate) :], layer_translate, strict=False):
                trans[a] = float(v)
    if pixel_size is not None:
        if isinstance(pixel_size, dict):
            sizes.update({k: float(v) for k, v in pixel_size.items()})
        elif np.isscalar(pixel_size):
            sizes["y"] = sizes["x"] = float(pixel_size)
        else:
            sizes["y"], sizes["x"] = (float(v) for v in pixel_size)
        given = pixel_size.keys() if isinstance(pixel_size, dict) else ("y", "x")
        for a in given:
            units[a] = "micrometer"  # a pixel size given here is in micrometres
    from ..io.units import length_unit

    units = {a: length_unit(u) or u for a, u in units.items()}
    return sizes, units, trans
