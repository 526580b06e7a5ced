"""Reading OME-Zarr image metadata (OME-NGFF 0.4, 0.5 and 0.6), local or remote.

:func:`read_multiscales` turns a group's multiscale metadata into one plain form whatever its
version: axis names, units, and per level the array path, pixel size and offset. Versions 0.4
and 0.5 are parsed and validated by ``ome-zarr-models`` (the community's reference models);
0.6, whose axes live in named coordinate systems and whose transforms may be a ``sequence``,
is read directly, as is any store that ``ome-zarr-models`` does not accept (a missing
optional field, an older writer); one small parser turns either entry into the plain form.

Locations are local paths or URLs (``s3://``, ``gs://``, ``https://``, ...): zarr opens URLs
through ``fsspec`` (plus the protocol's package: ``s3fs``, ``gcsfs``, ``aiohttp``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, InputNotFoundError, describe
from .units import length_unit

__all__ = ["Multiscales", "is_url", "open_group", "read_multiscales"]

log = logging.getLogger(__name__)


def is_url(location: str | os.PathLike) -> bool:
    """Whether ``location`` is a URL with a remote protocol (``file://`` counts as local)."""
    s = str(location)
    return "://" in s and not s.startswith("file://")


def open_group(location: str | os.PathLike):
    """Open a zarr group or array read-only, from a path or a URL, with clear errors."""
    import zarr

    if is_url(location):
        try:
            import fsspec  # noqa: F401
        except ImportError:
            raise InputError(
                f"reading {location} needs fsspec: pip install fsspec (with s3fs for s3://, "
                "gcsfs for gs://, aiohttp for https://)"
            ) from None
        try:
            return zarr.open(str(location), mode="r")
        except ImportError as err:  # the protocol's own package is missing
            raise InputError(f"cannot open {location}: {err}") from None
        except (FileNotFoundError, KeyError):
            raise InputNotFoundError(f"no zarr data at {location}") from None
        except Exception as err:  # noqa: BLE001 - network and store errors of many kinds
            raise InputError(f"cannot open {location}: {type(err).__name__}: {err}") from None
    from pathlib import Path

    from .guard import not_special

    path = Path(location)
    if not path.exists():
        raise InputNotFoundError(f"no zarr data at {location}")
    if not path.is_dir():
        not_special(path, "zarr store")
        raise InputError(f"{location} is a file, not a zarr store (a folder)")
    try:
        return zarr.open(str(location), mode="r")
    except (FileNotFoundError, KeyError):
        raise InputNotFoundError(f"no zarr data at {location}") from None
    except RecursionError:
        raise InputError(f"the zarr metadata of {location} is nested too deeply") from None
    except Exception as err:  # noqa: BLE001 - malformed metadata, unknown codecs, ...
        raise InputError(f"cannot open the zarr store {location}: {describe(err)}") from None


@dataclass
class Multiscales:
    """The multiscale metadata of an OME-Zarr image, in one form for every version."""

    version: str
    axes: str  # axis names, e.g. "czyx"
    units: dict[str, str] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)  # array path per level
    scales: list[list[float]] = field(default_factory=list)  # pixel size per level and axis
    translations: list[list[float] | None] = field(default_factory=list)

    def level(self, k: int) -> dict[str, Any]:
        """Axes, units, number of levels and the pixel size / offset of level ``k``."""
        out: dict[str, Any] = {"axes": self.axes, "units": dict(self.units)}
        out["levels"] = len(self.paths)
        if self.scales[k] is not None:
            out["scale"] = dict(zip(self.axes, self.scales[k], strict=False))
        if self.translations[k] is not None:
            out["translation"] = dict(zip(self.axes, self.translations[k], strict=False))
        return out


def _attrs_multiscales(attrs: dict) -> tuple[str, dict] | None:
    """(version, first multiscale entry) from raw attributes, or None."""
    ome = attrs.get("ome") if isinstance(attrs.get("ome"), dict) else {}
    ms = ome.get("multiscales") or attrs.get("multiscales")
    if not ms or not isinstance(ms, list) or not isinstance(ms[0], dict):
        return None
    version = str(ome.get("version") or ms[0].get("version") or "0.4")
    return version, ms[0]


def _validated_entry(group) -> tuple[str, dict] | None:
    """(version, first multiscale entry) as validated by ome-zarr-models (0.4 / 0.5), or None
    where it is not installed or does not accept the group (then the raw entry is read)."""
    try:
        from ome_zarr_models import open_ome_zarr
    except ImportError:
        return None
    try:
        image = open_ome_zarr(group)
    except Exception as err:  # noqa: BLE001 - not an image it knows, or invalid: fall back
        log.debug("ome-zarr-models did not parse %s: %s", group, err)
        return None
    attrs = getattr(image, "attributes", None)
    multiscales = getattr(attrs, "multiscales", None) or getattr(
        getattr(attrs, "ome", None), "multiscales", None
    )
    if not multiscales:
        return None
    version = "0.5" if type(image).__module__.startswith("ome_zarr_models.v05") else "0.4"
    return version, multiscales[0].model_dump(mode="json", exclude_none=True)


def _transforms(items) -> tuple[list[float] | None, list[float] | None]:
    """Scale and translation of a list of transforms (a ``sequence`` is unrolled)."""
    scale = trans = None
    stack = list(items or [])
    while stack:
        t = stack.pop(0)
        if not isinstance(t, dict):
            continue
        kind = t.get("type")
        if kind == "sequence":
            stack = list(t.get("transformations") or []) + stack
        elif kind == "scale" and t.get("scale") is not None:
            scale = [float(v) for v in t["scale"]]
        elif kind == "translation" and t.get("translation") is not None:
            trans = [float(v) for v in t["translation"]]
    return scale, trans


def _parse_entry(version: str, ms: dict, ndim: int | None) -> Multiscales:
    """Any version's multiscale entry, tolerant; axes from ``axes`` or ``coordinateSystems``."""
    axes = ms.get("axes")
    if not axes and ms.get("coordinateSystems"):
        systems = [c for c in ms["coordinateSystems"] if isinstance(c, dict)]
        # The datasets map into the multiscale's first coordinate system (0.6: the physical one).
        axes = systems[0].get("axes") if systems else None
    if not axes:
        axes = [{"name": a} for a in "tczyx"[-(ndim or 5) :]]
    names = "".join(a["name"] if isinstance(a, dict) else str(a) for a in axes)
    units = {
        a["name"]: length_unit(a["unit"]) or str(a["unit"])
        for a in axes
        if isinstance(a, dict) and a.get("unit")
    }
    out = Multiscales(version, names, units)
    for ds in ms.get("datasets") or []:
        scale, trans = _transforms(ds.get("coordinateTransformations"))
        out.paths.append(str(ds["path"]))
        out.scales.append(scale)
        out.translations.append(trans)
    return out


def read_multiscales(group) -> Multiscales | None:
    """The multiscale metadata of an opened zarr group, or ``None`` if it has none;
    :class:`InputError` when it is there but malformed."""
    try:
        return _read_multiscales(group)
    except (TypeError, KeyError, ValueError, AttributeError, IndexError) as err:
        raise InputError(
            f"the OME-Zarr multiscales metadata of {getattr(group, 'store', group)} is "
            f"malformed: {describe(err)}"
        ) from None


def _read_multiscales(group) -> Multiscales | None:
    found = _attrs_multiscales(dict(group.attrs))
    if found is None:
        return None
    version, ms = found
    validated = _validated_entry(group) if version in ("0.4", "0.5") else None
    if validated is not None:
        return _parse_entry(*validated, ndim=None)
    ndim = None
    datasets = ms.get("datasets") or []
    if datasets and isinstance(datasets[0], dict) and datasets[0].get("path") is not None:
        try:
            ndim = len(group[str(datasets[0]["path"])].shape)
        except Exception:  # noqa: BLE001 - a missing array: leave the axes to the entry
            ndim = None
    return _parse_entry(version, ms, ndim)
