"""The upsampling every result is scored beside: bicubic (torch, on batches).

Training validates against it (:class:`~napari_sisr.core.training.patches.ValidationSet`) and
the scoring protocol upsamples with it (:mod:`.scoring`), so both mean the same bicubic.
"""

from __future__ import annotations

__all__ = ["bicubic"]


def bicubic(lr, scale: int):
    """Bicubic upsampling (torch, ``align_corners=False``: block centres line up)."""
    import torch.nn.functional as F

    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False)
