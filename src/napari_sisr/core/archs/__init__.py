"""Generator and discriminator architectures, registered by name in a plain dict.

Every architecture family lives in its own module and registers an :class:`ArchSpec` in
:data:`ARCHS` (:mod:`.registry`, explicitly, never by scanning folders). Use
:func:`build_generator` and :func:`build_discriminator` rather than the classes, so presets
and checks apply.
"""

from __future__ import annotations

from .base import ArchSpec, SRGenerator
from .registry import ARCHS, build_discriminator, build_generator, get_spec

__all__ = ["ARCHS", "ArchSpec", "SRGenerator", "build_generator", "build_discriminator", "get_spec"]
