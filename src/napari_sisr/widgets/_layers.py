"""Layer helpers shared by the widgets: read one plane of a layer, add aligned result layers.

Runs in the GUI thread except :class:`PlaneView` reads, which are safe in a worker: a
:class:`PlaneView` holds the layer's array (numpy, dask, zarr), never the layer itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.errors import InputError
from ..core.io.dtypes import check_dtype
from ..core.io.images import to_gray

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = [
    "viewer_camera",
    "LayerPlane",
    "LayerSnapshot",
    "PlaneView",
    "add_aligned_image",
    "image_layer_choices",
    "is_output",
    "layer_plane",
    "level0",
    "plane_shape",
]


@dataclass(frozen=True)
class LayerSnapshot:
    """What the core reads of an image layer, detached from it: safe in a worker thread, and
    the one layer look-alike every widget hands to the core (super-resolution, training, the
    OME-Zarr writer).

    The core reads it like a layer (:func:`~napari_sisr.core.inference.input.canonical_input`,
    the training images): the pixels (every level of a multiscale layer), the RGB flag, and the
    scale / translate / units / axis labels of its physical metadata; of the metadata only the
    optics a file stated (:mod:`~napari_sisr.widgets.reader`) travel with it.
    """

    name: str
    data: Any
    rgb: bool = False
    multiscale: bool = False
    scale: tuple = ()
    translate: tuple = ()
    units: tuple = ()
    axis_labels: tuple = ()
    metadata: dict = field(default_factory=dict)

    @classmethod
    def of(cls, layer) -> LayerSnapshot:
        """The snapshot of a napari image layer (GUI thread)."""
        multiscale = bool(getattr(layer, "multiscale", False))
        ours = (getattr(layer, "metadata", None) or {}).get("napari_sisr") or {}
        optics = ours.get("optics")
        return cls(
            name=str(layer.name),
            data=list(layer.data) if multiscale else layer.data,
            rgb=bool(getattr(layer, "rgb", False)),
            multiscale=multiscale,
            scale=tuple(float(v) for v in getattr(layer, "scale", ())),
            translate=tuple(float(v) for v in getattr(layer, "translate", ())),
            units=tuple(str(u) for u in getattr(layer, "units", ())),  # napari >= 0.6
            axis_labels=tuple(str(a) for a in getattr(layer, "axis_labels", ())),
            metadata={"napari_sisr": {"optics": dict(optics)}} if isinstance(optics, dict) else {},
        )

    @classmethod
    def from_meta(cls, data, meta: dict) -> LayerSnapshot:
        """The snapshot of a layer as napari hands it to a writer: its data and its ``meta``
        (level 0 of a multiscale layer)."""
        multiscale = bool(meta.get("multiscale")) or isinstance(data, list)
        return cls(
            name=str(meta.get("name", "image")),
            data=data[0] if multiscale else data,
            rgb=bool(meta.get("rgb", False)),
            scale=tuple(meta.get("scale") or ()),
            translate=tuple(meta.get("translate") or ()),
            units=tuple(str(u) for u in meta.get("units") or ()),
            axis_labels=tuple(str(a) for a in meta.get("axis_labels") or ()),
        )

    @property
    def shape_yx(self) -> tuple[int, int]:
        """``(Y, X)`` of its full-resolution planes."""
        return plane_shape(self)


def level0(layer):
    """A layer's full-resolution data (level 0 of a multiscale layer)."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def plane_shape(layer) -> tuple[int, int]:
    """``(Y, X)`` of a layer's full-resolution planes (the axes before RGB's colour axis)."""
    shape = tuple(int(n) for n in level0(layer).shape)
    return shape[-3:-1] if getattr(layer, "rgb", False) else shape[-2:]


#: Channel names offered for RGB(A) layers; ``None`` means luminance.
RGB_CHANNELS = (("luminance", None), ("red", 0), ("green", 1), ("blue", 2))


class PlaneView:
    """A lazy 2D view of one plane (one channel, or the luminance of RGB) of a layer's array.

    Slicing with two slices reads only that window (``np.asarray(view)`` reads the plane), so
    core functions that accept array-likes work on dask- or zarr-backed layers unchanged.
    """

    ndim = 2

    def __init__(self, data, index: tuple[int, ...], rgb: bool, channel: int | None) -> None:
        self._data, self._index, self._rgb, self._channel = data, tuple(index), rgb, channel
        shape = tuple(int(n) for n in data.shape)
        self.shape = shape[-3:-1] if rgb else shape[-2:]

    def __getitem__(self, key) -> np.ndarray:
        if not (isinstance(key, tuple) and len(key) == 2):
            raise IndexError("a PlaneView takes exactly two slices")
        arr = np.asarray(self._data[self._index + tuple(key)])
        if self._rgb:
            arr = to_gray(arr, self._channel, rgb=True)
        return arr

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        arr = self[:, :]
        return arr if dtype is None else arr.astype(dtype)


@dataclass
class LayerPlane:
    """One 2D plane of an image layer, with the world placement of its pixels.

    Attributes
    ----------
    name : str
        Layer name.
    data : PlaneView
        Lazy 2D view of the plane.
    scale, translate : (float, float)
        World size and position of the plane's pixels (last two axes of the layer).
    index : tuple of int
        Indices of the plane along the leading axes (Z, T, ...), empty for 2D layers.
    """

    name: str
    data: PlaneView
    scale: tuple[float, float]
    translate: tuple[float, float]
    index: tuple[int, ...] = ()

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape


def layer_plane(layer, point=None, channel: int | None = None) -> LayerPlane:
    """The plane of ``layer`` shown at the viewer position ``point`` (``viewer.dims.point``).

    Z-stacks and time-lapses give the plane at the current step; RGB layers give their
    luminance (``channel=None``) or one channel. Raises :class:`InputError` naming the problem.
    """
    data = level0(layer)
    check_dtype(data, f"layer {layer.name!r}")
    rgb = bool(getattr(layer, "rgb", False))
    if rgb and channel is not None and not 0 <= channel < data.shape[-1]:
        raise InputError(f"layer {layer.name!r} has no channel {channel}")
    nlead = data.ndim - 2 - int(rgb)
    if nlead < 0:
        raise InputError(f"layer {layer.name!r} is not an image plane (shape {data.shape})")
    index: tuple[int, ...] = ()
    if nlead:
        pos = np.zeros(layer.ndim) if point is None else layer.world_to_data(point)
        index = tuple(int(round(float(v))) for v in pos[:nlead])
        for axis, (i, n) in enumerate(zip(index, data.shape[:nlead], strict=True)):
            if not 0 <= i < n:
                raise InputError(
                    f"the current position is outside layer {layer.name!r} along axis {axis} "
                    f"(plane {i} of {n}): move the dims slider onto the layer"
                )
    scale = tuple(float(v) for v in layer.scale[-2:])
    translate = tuple(float(v) for v in layer.translate[-2:])
    return LayerPlane(layer.name, PlaneView(data, index, rgb, channel), scale, translate, index)


def viewer_camera(viewer):
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9, ``viewer.camera`` before)."""
    return getattr(viewer, "scene", viewer).camera


#: Layers the widgets write under fixed names (a fit's outputs, the training preview).
OUTPUT_NAMES = ("simulated LR", "residual", "simulated LR (preview)", "SR preview (training)")
#: Keys of ``metadata["napari_sisr"]`` that mark a layer this plugin computed.
OUTPUT_KEYS = ("scale_factor", "evidence_of", "isotropic_of", "live")


def world_overlap(a, b) -> float:
    """Intersection over union of two layers' planes in world coordinates (pixel size and
    offset applied): about 1 for two captures of one field, small for unrelated images."""
    boxes = []
    for layer in (a, b):
        scale = [float(v) for v in layer.scale[-2:]]
        offset = getattr(layer, "translate", None)
        shift = [0.0, 0.0] if offset is None or len(offset) < 2 else list(offset)[-2:]
        spans = zip(shift, scale, plane_shape(layer), strict=True)
        boxes.append([(t - s / 2, t + (n - 0.5) * s) for t, s, n in spans])
    inter = 1.0
    for (a0, a1), (b0, b1) in zip(*boxes, strict=True):
        inter *= max(0.0, min(a1, b1) - max(a0, b0))
    area = [(box[0][1] - box[0][0]) * (box[1][1] - box[1][0]) for box in boxes]
    union = area[0] + area[1] - inter
    return inter / union if union > 0 else 0.0


def is_output(layer) -> bool:
    """A layer this plugin made (a fit's simulated LR / residual / preview, an SR result or
    its live preview, an evidence map, an isotropic stack, the training preview): never a
    capture to fit or train on."""
    meta = getattr(layer, "metadata", None) or {}
    made = meta.get("napari_sisr") if isinstance(meta, dict) else None
    return layer.name in OUTPUT_NAMES or (
        isinstance(made, dict) and any(k in made for k in OUTPUT_KEYS)
    )


def image_layer_choices(viewer: napari.viewer.Viewer) -> list[tuple[str, Any]]:
    """``(name, layer)`` pairs of the viewer's image layers, for a magicgui ComboBox."""
    from napari.layers import Image

    return [(layer.name, layer) for layer in viewer.layers if isinstance(layer, Image)]


def add_aligned_image(
    viewer: napari.viewer.Viewer,
    data: np.ndarray,
    name: str,
    like: LayerPlane,
    *,
    offset_px: tuple[float, float] = (0.0, 0.0),
    **kwargs,
):
    """Add (or update in place) a 2D image layer that overlays the plane ``like`` exactly.

    The layer gets ``like``'s pixel size and position, moved by ``offset_px`` pixels of
    ``like``. An existing image layer called ``name`` is updated instead of duplicated.
    """
    scale = like.scale
    translate = tuple(t + o * s for t, o, s in zip(like.translate, offset_px, scale, strict=True))
    names = [layer.name for layer in viewer.layers]
    if name in names:
        layer = viewer.layers[name]
        if getattr(layer, "ndim", None) == 2 and not getattr(layer, "rgb", False):
            layer.data = data
            layer.scale, layer.translate = scale, translate
            for key, value in kwargs.items():
                setattr(layer, key, value)
            return layer
        viewer.layers.remove(name)
    return viewer.add_image(data, name=name, scale=scale, translate=translate, **kwargs)
