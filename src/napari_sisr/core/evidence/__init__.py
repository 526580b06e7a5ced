"""Evidence without ground truth: what a capture supports of a super-resolved image.

:func:`evidence` (consistency map, resolution, uncertainty) and :func:`resolution`
(decorrelation analysis of one image); the measures live in :mod:`.consistency`,
:mod:`.resolution`, :mod:`.split` and :mod:`.tiled`.
"""

from __future__ import annotations

from .resolution import Resolution, decorrelation, frc_resolution
from .run import Evidence, evidence

__all__ = ["Evidence", "Resolution", "evidence", "resolution", "decorrelation", "frc_resolution"]


def resolution(image, pixel_size_nm: float | None = None) -> Resolution:
    """The resolution of one image by decorrelation analysis (Descloux et al. 2019), in nm
    when ``pixel_size_nm`` is given, else in pixels."""
    return decorrelation(image, pixel_size_nm)
