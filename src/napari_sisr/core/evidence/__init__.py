"""Evidence without ground truth: what a capture supports of a super-resolved image.

:func:`evidence` (consistency map, resolution, uncertainty) and :func:`resolution`
(decorrelation analysis of one image); the measures live in :mod:`.consistency`,
:mod:`.resolution`, :mod:`.split` and :mod:`.tiled`.
"""

from __future__ import annotations

import os

from .resolution import Resolution, decorrelation, frc_resolution
from .run import Evidence, evidence

__all__ = ["Evidence", "Resolution", "evidence", "resolution", "decorrelation", "frc_resolution"]


def resolution(image, pixel_size_nm: float | None = None) -> Resolution:
    """The resolution of one image by decorrelation analysis (Descloux et al. 2019), in nm
    when the pixel size is known, else in pixels.

    ``image`` is a 2D array, or an image file: then its central plane (the luminance of an
    RGB image) is measured, and the pixel size its metadata states is used unless
    ``pixel_size_nm`` is given.
    """
    if isinstance(image, str | os.PathLike):
        from .reading import read_plane

        image, found = read_plane(str(image), None)
        pixel_size_nm = pixel_size_nm if pixel_size_nm is not None else found
    return decorrelation(image, pixel_size_nm)
