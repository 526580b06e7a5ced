"""What an image file says of itself: axis names, pixel sizes with their units, and the optics.

OME-XML (OME-TIFF) is read through ``ome-types``, the OME data model's maintained Python
binding; ImageJ TIFFs through the ``unit`` / ``spacing`` entries and the resolution tags that
ImageJ writes. Every unit comes out as a UDUNITS-2 name (:mod:`.units`), every wavelength in
nanometres. Metadata is optional: a file whose metadata cannot be read still loads, and the
reason is kept (``warnings``) for the front ends to show.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .units import length_unit, to_micrometres

log = logging.getLogger(__name__)

#: OME acquisition modes that image through a pinhole (a confocal PSF).
_CONFOCAL_MODES = {
    "LASER_SCANNING_CONFOCAL_MICROSCOPY",
    "SPINNING_DISK_CONFOCAL",
    "SLIT_SCAN_CONFOCAL",
    "SWEPT_FIELD_CONFOCAL",
}
#: OME acquisition modes whose PSF is the widefield one.
_WIDEFIELD_MODES = {"WIDE_FIELD", "TOTAL_INTERNAL_REFLECTION", "TIRF", "SPIM"}

#: Refractive index of each immersion medium (the NA cannot exceed it).
IMMERSION_INDEX = {
    "air": 1.0,
    "water": 1.333,
    "water_dipping": 1.333,
    "glycerol": 1.47,
    "oil": 1.518,
}


def read_tiff_metadata(path: str | Path) -> dict[str, Any]:
    """Axes, pixel sizes, units and optics of a TIFF (OME-TIFF or ImageJ), best effort.

    Returns a dict with any of ``axes`` (e.g. ``"zyx"``), ``scale`` and ``units`` (per axis
    name; units as UDUNITS-2 names), ``optics`` (``na``, ``wavelength_nm``, ``immersion``,
    ``modality`` of the first channel) and ``warnings`` (what could not be read).
    """
    import tifffile

    out: dict[str, Any] = {}
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes = series.axes.lower().replace("s", "c")
            if set(axes) <= set("tczyx") and len(set(axes)) == len(axes):
                out["axes"] = axes
            if tif.ome_metadata:
                out.update(_ome(tif.ome_metadata))
            elif tif.imagej_metadata:
                out.update(_imagej(tif))
    except Exception as err:  # noqa: BLE001 - metadata is optional; the pixels still load
        log.info("metadata of %s not read: %s", path, err)
        return {"warnings": [f"the metadata of {Path(path).name} could not be read ({err})"]}
    return out


def _ome(xml: str) -> dict[str, Any]:
    """Pixel sizes, units and optics of the first image of an OME-XML document."""
    try:
        from ome_types import from_xml
    except ImportError:  # pragma: no cover - a dependency; only a broken install lacks it
        return {"warnings": ["ome-types is not installed: OME-XML metadata ignored"]}
    try:
        ome = from_xml(xml, validate=False)
    except Exception as err:  # noqa: BLE001 - malformed vendor XML
        return {"warnings": [f"the OME-XML metadata could not be parsed ({err})"]}
    if not ome.images:
        return {}
    image = ome.images[0]
    pixels = image.pixels
    out: dict[str, Any] = {"scale": {}, "units": {}}
    for a in "xyz":
        value = getattr(pixels, f"physical_size_{a}", None)
        unit = getattr(pixels, f"physical_size_{a}_unit", None)
        name = length_unit(getattr(unit, "value", unit) or "µm")
        if value is not None and name is not None and float(value) > 0:
            out["scale"][a] = float(value)
            out["units"][a] = name
    optics = _ome_optics(ome, image)
    if optics:
        out["optics"] = optics
    return out


def _ome_optics(ome, image) -> dict[str, Any]:
    """NA and immersion of the image's objective, emission wavelength (nm) and modality of
    its first channel that states them."""
    optics: dict[str, Any] = {}
    objective = _objective(ome, image)
    if objective is not None:
        if objective.lens_na is not None and objective.lens_na > 0:
            optics["na"] = float(objective.lens_na)
        immersion = getattr(objective.immersion, "value", None)
        if immersion:
            optics["immersion"] = str(immersion).lower().replace(" ", "_")
    for channel in image.pixels.channels:
        wavelength = channel.emission_wavelength
        if wavelength is not None and "wavelength_nm" not in optics:
            unit = getattr(channel.emission_wavelength_unit, "value", None) or "nm"
            um = to_micrometres(float(wavelength), unit)
            if um is not None and um > 0:
                optics["wavelength_nm"] = um * 1000.0
        mode = getattr(channel.acquisition_mode, "name", None)
        if mode and "modality" not in optics:
            if mode in _CONFOCAL_MODES:
                optics["modality"] = "confocal"
            elif mode in _WIDEFIELD_MODES:
                optics["modality"] = "widefield"
    return optics


def _objective(ome, image):
    """The objective the image names (its ObjectiveSettings), else the instrument's only one."""
    objectives = [o for inst in ome.instruments for o in inst.objectives]
    ref = getattr(image.objective_settings, "id", None)
    for o in objectives:
        if ref is not None and o.id == ref:
            return o
    return objectives[0] if len(objectives) == 1 else None


def _imagej(tif) -> dict[str, Any]:
    """Pixel sizes of an ImageJ TIFF: the resolution tags in its ``unit``, and ``spacing``
    (z) in ``zunit`` when given, else in ``unit``."""
    meta = tif.imagej_metadata or {}
    unit = length_unit(meta.get("unit"))
    out: dict[str, Any] = {}
    page = tif.pages[0]
    res = page.tags.get("XResolution"), page.tags.get("YResolution")
    if unit is None or not all(res):
        return out
    scale, units = {}, {}
    for a, tag, key in (("x", res[0], "unit"), ("y", res[1], "yunit")):
        num, den = tag.value
        if num > 0 and den > 0:
            scale[a] = den / num
            units[a] = length_unit(meta.get(key)) or unit
    spacing = meta.get("spacing")
    try:
        if spacing is not None and float(spacing) > 0:
            scale["z"] = float(spacing)
            units["z"] = length_unit(meta.get("zunit")) or unit
    except (TypeError, ValueError):
        pass
    if scale:
        out["scale"], out["units"] = scale, units
    return out
