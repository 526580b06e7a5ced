"""Generator and discriminator architectures, registered by name in a plain dict.

Every architecture family lives in its own module and registers an :class:`ArchSpec` in
:data:`ARCHS` below (explicitly, never by scanning folders). Use :func:`build_generator` and
:func:`build_discriminator` rather than the classes, so presets and checks apply.
"""

from __future__ import annotations

from .base import ArchSpec, SRGenerator, build_discriminator, build_generator, get_spec

#: name -> ArchSpec; filled by the family modules imported in ``_register``.
ARCHS: dict[str, ArchSpec] = {}


def _register() -> None:
    from . import cascaded, rrdb, srgan_nn, srresnet

    for module in (srresnet, srgan_nn, rrdb, cascaded):
        ARCHS[module.SPEC.name] = module.SPEC


_register()

__all__ = ["ARCHS", "ArchSpec", "SRGenerator", "build_generator", "build_discriminator", "get_spec"]
