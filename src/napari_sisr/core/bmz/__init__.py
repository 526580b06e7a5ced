"""bioimage.io in one room: exporting our models as packages (:mod:`.export`), reading our own
packages back (:mod:`.package`), and running other tools' packages (:mod:`.foreign`).

``napari_sisr.core.bmz:generator`` is the architecture our exported packages name, so
bioimage.io's tools rebuild the network from it: it stays importable from here.
"""

from __future__ import annotations

from .export import export_bmz, generator
from .package import unpack_bmz

__all__ = ["export_bmz", "generator", "unpack_bmz"]
