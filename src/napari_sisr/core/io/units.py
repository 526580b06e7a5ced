"""Units of length: every SI spelling a file may use, read as one UDUNITS-2 name.

Inside the project a pixel size is a number with a UDUNITS-2 unit name (``"micrometer"``,
``"nanometer"``, ...), the names OME-NGFF requires; files spell them in many ways (ImageJ's
``micron`` or ``\\u00B5m``, OME's ``µm`` or ``nm``, ``nanometre``, a Greek mu ...).
:func:`length_unit` reads any of them, :func:`to_micrometres` converts, :func:`ome_symbol`
writes OME-XML's symbol.
"""

from __future__ import annotations

#: UDUNITS-2 names of lengths and their size in micrometres.
MICROMETRES = {
    "picometer": 1e-6,
    "angstrom": 1e-4,
    "nanometer": 1e-3,
    "micrometer": 1.0,
    "millimeter": 1e3,
    "centimeter": 1e4,
    "meter": 1e6,
}

#: OME-XML's symbol of each UDUNITS-2 name.
_OME_SYMBOLS = {
    "picometer": "pm",
    "angstrom": "Å",
    "nanometer": "nm",
    "micrometer": "µm",
    "millimeter": "mm",
    "centimeter": "cm",
    "meter": "m",
}

_PREFIXES = {
    "pico": "picometer",
    "nano": "nanometer",
    "micro": "micrometer",
    "milli": "millimeter",
    "centi": "centimeter",
    "": "meter",
}
_SYMBOLS = {
    "pm": "picometer",
    "nm": "nanometer",
    "um": "micrometer",
    "mm": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "a": "angstrom",
    "å": "angstrom",
}
_MICRO_SIGNS = ("\u00b5", "\u03bc", "\\u00b5", "\\u03bc")  # micro sign, Greek mu, escaped


def length_unit(spelling) -> str | None:
    """The UDUNITS-2 name of a length unit in any common spelling, or ``None``.

    ``"nm"``, ``"nanometre"``, ``"Nanometers"`` -> ``"nanometer"``; ``"µm"`` (micro sign or
    Greek mu, also ImageJ's escaped ``\\u00B5m``), ``"um"``, ``"micron"``, ``"microns"``,
    ``"micrometre"`` -> ``"micrometer"``; ``"Å"`` -> ``"angstrom"``. Units that are not lengths
    (``"pixel"``, ``"s"``, ``""``) give ``None``.
    """
    if spelling is None:
        return None
    s = str(spelling).strip().lower()
    for sign in _MICRO_SIGNS:
        s = s.replace(sign, "u")
    if not s:
        return None
    if s in _SYMBOLS:
        return _SYMBOLS[s]
    if s in ("u", "micron", "microns"):
        return "micrometer"
    if s in ("angstrom", "angstroms", "ångström", "ångströms"):
        return "angstrom"
    for ending in ("meters", "metres", "meter", "metre"):
        if s.endswith(ending):
            return _PREFIXES.get(s[: -len(ending)])
    return None


def to_micrometres(value: float, unit) -> float | None:
    """``value`` in ``unit`` (any spelling) as micrometres; ``None`` for a non-length unit."""
    name = length_unit(unit)
    return None if name is None else float(value) * MICROMETRES[name]


def ome_symbol(unit) -> str | None:
    """OME-XML's symbol (``"µm"``, ``"nm"`` ...) of a length unit in any spelling."""
    name = length_unit(unit)
    return None if name is None else _OME_SYMBOLS[name]
