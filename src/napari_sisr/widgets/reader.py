"""napari's *File > Open* for TIFF and OME-TIFF that keeps what the file says of itself.

napari's own TIFF reader gives every layer ``scale [1, 1]``: a 127-pixel confocal capture then
sits in the corner of the 508-pixel STED image of the same field, and a result cannot overlay
its source in physical units. This reader reads the pixels through the same guarded reader as
the command line and the pixel sizes, units and axis names as
:func:`~napari_sisr.core.io.metadata.read_tiff_metadata` finds them (OME-XML through
ome-types, ImageJ tags): the layer's scale is the pixel size in micrometres, its units and
axis labels are set, and the optics the file states (NA, emission wavelength, immersion,
modality) go into the layer's metadata, where the Super-resolve widget's automatic degradation
reads them as it does from the file on the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["get_reader", "read_tiff_layers"]

SUFFIXES = (".tif", ".tiff")


def get_reader(path):
    """The reader for one TIFF path (napari's reader hook), else ``None``."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    if not str(path).lower().endswith(SUFFIXES):
        return None
    return read_tiff_layers


def read_tiff_layers(path) -> list[tuple[Any, dict, str]]:
    """One image layer (or one per channel) of a TIFF, with its pixel sizes and optics."""
    from ..core.io.images import read_image
    from ..core.io.metadata import read_tiff_metadata

    path = path[0] if isinstance(path, list) else path
    data = read_image(path)
    meta = read_tiff_metadata(path)
    axes = meta.get("axes") or ""
    if len(axes) != data.ndim:
        axes = ""
    kwargs: dict[str, Any] = {"name": Path(path).name.split(".")[0]}
    rgb = axes.endswith("c") and data.shape[-1] in (3, 4) and data.dtype.kind == "u"
    if "c" in axes and not rgb:
        kwargs["channel_axis"] = axes.index("c")
    kwargs["rgb"] = rgb
    spatial = [a for a in axes if a != "c"] if axes else []
    scale, units = _scale_units(spatial, meta)
    if scale is not None:
        kwargs["scale"], kwargs["units"] = scale, units
        kwargs["axis_labels"] = tuple(spatial)
    ours = {"file": str(Path(path).resolve())}
    if meta.get("optics"):
        ours["optics"] = dict(meta["optics"])
    kwargs["metadata"] = {"napari_sisr": ours}
    for warning in meta.get("warnings", ()):
        _warn(warning)
    return [(data, kwargs, "image")]


def _scale_units(axes: list[str], meta: dict) -> tuple[tuple | None, tuple | None]:
    """Per axis (not the channel axis): the pixel size in micrometres and ``"um"`` where the
    file gives it as a length, else 1 and ``"pixel"``; ``(None, None)`` where it gives none."""
    from ..core.io.units import to_micrometres

    sizes, units = meta.get("scale") or {}, meta.get("units") or {}
    scale, names = [], []
    for a in axes:
        um = to_micrometres(sizes[a], units.get(a)) if a in sizes else None
        ok = um is not None and um > 0
        scale.append(um if ok else 1.0)
        names.append("um" if ok else "pixel")
    if not axes or all(n == "pixel" for n in names):
        return None, None
    return tuple(scale), tuple(names)


def _warn(text: str) -> None:
    from ._jobs import notify_warning

    notify_warning(text)
