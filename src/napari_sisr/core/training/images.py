"""Training images: reading, plane layout, global percentile normalisation, validation split.

Every source (a file path, an array, or any object with ``.data``, e.g. a napari layer) becomes
a :class:`TrainImage` holding float32 planes ``(P, C, Y, X)`` normalised to roughly [0, 1] by
percentiles of the WHOLE image (per channel, over all planes), never per patch, so that
training sees what inference sees. The validation split is by image: whole images are held
out, or, with a single source, a fixed band of it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from .provenance import plane_digests

__all__ = [
    "TrainImage",
    "load_images",
    "to_planes",
    "split_validation",
    "percentile_range",
    "describe_sources",
]

#: Percentiles mapped to 0 and 1 when training images are normalised (a model file records
#: them as its normalisation, so inference maps its input the same way).
TRAIN_PERCENTILES = (1.0, 99.8)
#: Largest number of values percentiles are computed from (a strided sample beyond that).
_PERCENTILE_SAMPLE = 4_000_000


@dataclass
class TrainImage:
    """One training or validation image, normalised.

    Attributes
    ----------
    name : str
        Where it came from (file name, layer name or ``arrayN``).
    data : numpy.ndarray
        float32 planes ``(P, C, Y, X)`` in normalised units.
    lo, hi : numpy.ndarray
        Raw intensities at the low and high percentiles, shape ``(P, C)``.
    lr : numpy.ndarray, optional
        Paired mode: the real LR planes ``(P, C, Y / s, X / s)``, normalised likewise.
    note : str
        How it was derived (e.g. the band of a single source held out for validation).
    """

    name: str
    data: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    lr: np.ndarray | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def shape_yx(self) -> tuple[int, int]:
        return int(self.data.shape[-2]), int(self.data.shape[-1])

    def span(self, plane: int) -> float:
        """Raw intensity range mapped to [0, 1] for one plane (mean over its channels)."""
        return float(np.mean(self.hi[plane] - self.lo[plane]))

    def low(self, plane: int) -> float:
        return float(np.mean(self.lo[plane]))


def image_list(value, *, required: bool = True) -> list | None:
    """The images a config field was given, as a list: one image (an array, a file path, a
    layer) becomes a list of one; a list or tuple is kept. Without this an array would be
    iterated row by row into "images" of one dimension, and a path letter by letter."""
    if value is None:
        return [] if required else None
    if isinstance(value, str | os.PathLike) or hasattr(value, "shape") or hasattr(value, "data"):
        return [value]
    if isinstance(value, list | tuple):
        return list(value)
    raise InputError(
        f"images are given as a list of arrays, files or layers, got {type(value).__name__}"
    )


def _name(item, i: int) -> str:
    if isinstance(item, str | os.PathLike):
        return Path(item).name
    return str(getattr(item, "name", None) or f"array{i}")


def _read(item) -> tuple[np.ndarray, bool | None]:
    from ..io.dtypes import check_dtype
    from ..io.images import read_image

    if isinstance(item, str | os.PathLike):
        return read_image(item), None
    rgb = getattr(item, "rgb", None)
    data = getattr(item, "data", item)
    if isinstance(data, list | tuple) and data and hasattr(data[0], "shape"):
        data = data[0]  # multiscale: full resolution
    arr = np.asarray(data)
    check_dtype(arr)
    return arr, rgb


def to_planes(
    arr: np.ndarray, *, channel_axis: int | None, rgb: bool | None, name: str = "image"
) -> np.ndarray:
    """Rearrange an image into ``(P, C, Y, X)``: leading axes become planes.

    RGB(A) images (last axis of 3 or 4, auto-detected unless ``rgb`` is given) use the last axis
    as channels (alpha dropped); ``channel_axis`` names the channel axis of other layouts.
    """
    arr = np.asarray(arr)
    if arr.ndim < 2:
        raise InputError(f"{name}: expected an image with at least 2 dimensions, got {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{name} is empty (shape {arr.shape}): nothing to train on")
    if rgb is None:
        rgb = channel_axis is None and arr.ndim == 3 and arr.shape[-1] in (3, 4)
        rgb = rgb and arr.shape[0] > 4
    if rgb:
        arr = np.moveaxis(arr[..., :3], -1, -3)
    elif channel_axis is not None:
        ax = channel_axis % arr.ndim
        if ax >= arr.ndim - 2:
            raise InputError(
                f"{name}: channel_axis {channel_axis} is a spatial axis of {arr.shape}"
            )
        arr = np.moveaxis(arr, ax, -3)
    else:
        arr = arr[..., None, :, :]
    return arr.reshape((-1,) + arr.shape[-3:])


def percentile_range(planes: np.ndarray, percentiles: tuple[float, float]) -> np.ndarray:
    """Per-channel ``(lo, hi)`` of ``(P, C, Y, X)`` planes over all planes; shape ``(C, 2)``."""
    out = []
    for c in range(planes.shape[1]):
        values = planes[:, c].reshape(-1)
        step = max(1, values.size // _PERCENTILE_SAMPLE)
        lo, hi = np.percentile(values[::step], percentiles)
        out.append((float(lo), float(hi)))
    return np.asarray(out, dtype=np.float64)


def _normalise(planes: np.ndarray, rng: np.ndarray, name: str) -> np.ndarray:
    lo, hi = rng[:, 0], rng[:, 1]
    if np.any(hi <= lo) or not np.all(np.isfinite(rng)):
        raise InputError(
            f"{name} is constant (or nearly) between its percentiles: nothing to learn"
        )
    out = planes.astype(np.float32, copy=True)
    out -= lo.astype(np.float32)[None, :, None, None]
    out /= (hi - lo).astype(np.float32)[None, :, None, None]
    return out


def load_images(
    sources,
    *,
    in_channels: int,
    channel_axis: int | None = None,
    rgb: bool | None = None,
    percentiles: tuple[float, float] = TRAIN_PERCENTILES,
    what: str = "HR",
) -> list[TrainImage]:
    """Read and normalise images for training.

    Parameters
    ----------
    sources : sequence
        File paths, arrays, or objects with ``.data`` (and optionally ``.name``, ``.rgb``).
    in_channels : int
        Channels the model takes. With 1, every channel of a multichannel image becomes its own
        set of planes; otherwise images must have exactly ``in_channels`` channels.
    channel_axis, rgb : optional
        Layout of multichannel images (see :func:`to_planes`).
    percentiles : (float, float)
        Normalisation percentiles, computed per image and channel over all planes.
    what : str
        Name used in error messages ("HR", "validation", "LR").
    """
    images = []
    for i, item in enumerate(sources):
        name = _name(item, i)
        arr, layer_rgb = _read(item)
        planes = to_planes(
            arr, channel_axis=channel_axis, rgb=rgb if rgb is not None else layer_rgb, name=name
        )
        if not np.all(np.isfinite(planes)):
            raise InputError(f"{what} image {name} contains NaN or infinite values")
        n_ch = planes.shape[1]
        if in_channels > 1 and n_ch != in_channels:
            raise InputError(
                f"{what} image {name} has {n_ch} channel(s) but the model takes {in_channels}; "
                "set channel_axis / rgb, or train a single-channel model"
            )
        rng = percentile_range(planes, percentiles)
        norm = _normalise(planes, rng, f"{what} image {name}")
        extra = {"digests": plane_digests(planes), "shape_yx": list(planes.shape[-2:])}
        lo = np.broadcast_to(rng[:, 0], (planes.shape[0], n_ch))
        hi = np.broadcast_to(rng[:, 1], (planes.shape[0], n_ch))
        if in_channels == 1 and n_ch > 1:
            norm = norm.reshape(-1, 1, *norm.shape[-2:])
            lo, hi = lo.reshape(-1, 1), hi.reshape(-1, 1)
        images.append(TrainImage(name, norm, np.array(lo), np.array(hi), extra=extra))
    return images


def attach_lr(hr: list[TrainImage], lr: list[TrainImage], scale: int) -> list[TrainImage]:
    """Paired mode: pair each HR image with its registered real LR image (checked shapes)."""
    for h, low in zip(hr, lr, strict=True):
        hy, hx = h.shape_yx
        ly, lx = low.shape_yx
        if h.data.shape[:2] != low.data.shape[:2]:
            raise InputError(
                f"paired images {h.name} and {low.name} differ in planes/channels: "
                f"{h.data.shape[:2]} vs {low.data.shape[:2]}"
            )
        if ly * scale > hy or lx * scale > hx or ly * scale < hy - scale or lx * scale < hx - scale:
            raise InputError(
                f"LR image {low.name} ({ly}x{lx}) is not the HR image {h.name} ({hy}x{hx}) "
                f"divided by the scale {scale}: register and crop the pair first"
            )
        h.data = h.data[..., : ly * scale, : lx * scale]
        h.lr = low.data
        h.extra = {**h.extra, "lr_digests": low.extra.get("digests", [])}
    return hr


def onto_lr_grid(
    img: TrainImage, low: TrainImage, shift_yx: tuple[float, float], scale: int
) -> TrainImage:
    """The HR image moved by the fitted ``shift_yx`` onto the grid of its real LR capture,
    cropped to ``scale`` times it, with that capture attached (for validation).

    The fit's shift places the LR field in the HR image (``T_shift``), so after the move the
    LR pixel ``(i, j)`` covers HR rows ``s*i .. s*i+s-1`` as the model says.
    """
    from scipy import ndimage

    data = img.data
    if any(shift_yx):
        data = ndimage.shift(data, (0, 0, *shift_yx), order=3, mode="reflect")
    ly, lx = low.shape_yx
    if data.shape[-2] < ly * scale or data.shape[-1] < lx * scale:
        raise InputError(
            f"the HR image {img.name} ({data.shape[-2]}x{data.shape[-1]}) is smaller than its "
            f"real LR capture {low.name} ({ly}x{lx}) times the scale {scale}"
        )
    if data.shape[:2] != low.data.shape[:2]:
        raise InputError(
            f"{img.name} and its real LR capture {low.name} differ in planes/channels: "
            f"{data.shape[:2]} vs {low.data.shape[:2]}"
        )
    data = np.ascontiguousarray(data[..., : ly * scale, : lx * scale], dtype=np.float32)
    extra = {**img.extra, "lr_digests": low.extra.get("digests", [])}
    return TrainImage(img.name, data, img.lo, img.hi, low.data, img.note, extra)


def _band(img: TrainImage, start: int, stop: int, axis: int, scale: int, note: str) -> TrainImage:
    sl = [slice(None)] * 4
    sl[axis] = slice(start, stop)
    lr = None
    if img.lr is not None:
        lsl = list(sl)
        lsl[axis] = slice(start // scale, stop // scale)
        lr = img.lr[tuple(lsl)]
    ny, nx = img.shape_yx
    region = [[0, ny], [0, nx]]
    region[axis - 2] = [start, stop]
    extra = {**img.extra, "region": region}
    return TrainImage(img.name, img.data[tuple(sl)], img.lo, img.hi, lr, note, extra)


def split_validation(
    images: list[TrainImage], fraction: float, patch: int, scale: int
) -> tuple[list[TrainImage], list[TrainImage], dict]:
    """Hold out validation data by image.

    With two or more images the LAST ``ceil(fraction * n)`` images (at least one, at most
    ``n - 1``) are held out whole. A single image is split along its longer axis: the last
    ``fraction`` of it is held out and patches are drawn from the rest only.

    Returns
    -------
    train, val : list of TrainImage
    info : dict
        The split, as recorded in the run's files.
    """
    n = len(images)
    if n == 0:
        raise InputError("no HR images given")
    if n >= 2:
        n_val = min(n - 1, max(1, math.ceil(fraction * n)))
        train, val = images[: n - n_val], images[n - n_val :]
        info = {"mode": "images", "train": [i.name for i in train], "val": [i.name for i in val]}
        return train, val, info
    img = images[0]
    ny, nx = img.shape_yx
    axis = 2 if ny >= nx else 3
    length = ny if axis == 2 else nx
    cut = int(round(length * (1 - fraction) / scale)) * scale
    if cut < patch or length - cut < 4 * scale:
        raise InputError(
            f"a single HR image ({ny}x{nx}) is too small to hold out {fraction:.0%} for "
            f"validation and still draw {patch}-pixel patches: give more images or --val images"
        )
    ax_name = "rows" if axis == 2 else "columns"
    train = [_band(img, 0, cut, axis, scale, f"{ax_name} 0:{cut}")]
    val = [_band(img, cut, length, axis, scale, f"{ax_name} {cut}:{length} (held out)")]
    info = {
        "mode": "band",
        "train": [f"{img.name} {ax_name} 0:{cut}"],
        "val": [f"{img.name} {ax_name} {cut}:{length}"],
    }
    return train, val, info


def check_patch_fits(images: list[TrainImage], patch: int) -> None:
    """Raise a clear error if an image is smaller than one training patch."""
    small = [
        f"{i.name} ({i.shape_yx[0]}x{i.shape_yx[1]})" for i in images if min(i.shape_yx) < patch
    ]
    if small:
        raise InputError(
            f"HR image(s) smaller than the {patch}-pixel patch: {', '.join(small)}; "
            "use a smaller patch or larger images"
        )


def describe_sources(items) -> list[str]:
    """Human-readable names of image sources: paths as given, arrays by shape and dtype."""
    out = []
    for i, item in enumerate(items or []):
        if isinstance(item, str | Path):
            out.append(str(item))
        else:
            name = getattr(item, "name", None)
            arr = getattr(item, "data", item)
            shape = getattr(arr, "shape", None)
            dtype = getattr(arr, "dtype", "?")
            out.append(f"{name or f'array{i}'} {tuple(shape) if shape else '?'} {dtype}")
    return out
