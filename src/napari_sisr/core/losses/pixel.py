"""Pixel, SSIM and diffraction-pattern-filter content losses."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..archs.dpf import apply_bank, make_dpf_bank
from ..errors import InputError
from ..metrics import ssim_torch

__all__ = ["DPFContentLoss", "pixel_loss", "ssim", "ssim_loss"]


def pixel_loss(sr: torch.Tensor, hr: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Mean absolute (``"l1"``) or squared (``"mse"``) error."""
    if sr.shape != hr.shape:
        raise InputError(f"SR shape {tuple(sr.shape)} differs from HR shape {tuple(hr.shape)}")
    if kind == "l1":
        return F.l1_loss(sr, hr)
    if kind == "mse":
        return F.mse_loss(sr, hr)
    raise InputError(f"pixel loss kind must be 'l1' or 'mse', got {kind!r}")


def ssim(
    x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, reduction: str = "mean"
) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004), differentiable, in the inputs' dtype.

    The package's one SSIM (:func:`napari_sisr.core.metrics.ssim_torch`: 11-tap Gaussian
    window of sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03``, valid region, channels averaged).

    Parameters
    ----------
    x, y : torch.Tensor
        ``(N, C, H, W)`` images, H and W at least 11.
    data_range : float
        Range of the intensities (1 for images scaled to [0, 1]).
    reduction : {"mean", "none"}
        Mean over the batch, or one value per image.
    """
    if reduction not in ("mean", "none"):
        raise InputError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    per_image = ssim_torch(x, y, data_range, float64=False)
    return per_image if reduction == "none" else per_image.mean()


def ssim_loss(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """``1 - ssim(x, y)``."""
    return 1.0 - ssim(x, y, data_range=data_range)


class DPFContentLoss(nn.Module):
    """L1 between DPF-filtered SR and HR images at every refinement level.

    Parameters
    ----------
    bank : torch.Tensor, optional
        ``(n, 1, k, k)`` kernels, e.g. the cascaded generator's ``net.dpf.weight``; the default
        bank of :func:`napari_sisr.core.archs.dpf.make_dpf_bank` if None.

    Notes
    -----
    Called with a list of per-level outputs (coarse to fine, as returned by
    ``forward_levels``) or a single image. The HR target is block-averaged to each level's
    size (the same pixel integration as the degradation model), and the loss is the mean of
    the per-level L1 errors, so its scale does not grow with the number of levels.
    """

    def __init__(self, bank: torch.Tensor | None = None):
        super().__init__()
        bank = make_dpf_bank() if bank is None else bank.detach().clone().float()
        if bank.ndim != 4 or bank.shape[1] != 1:
            raise InputError(f"DPF bank must have shape (n, 1, k, k), got {tuple(bank.shape)}")
        self.register_buffer("bank", bank)

    def forward(
        self, sr_or_levels: torch.Tensor | Sequence[torch.Tensor], hr: torch.Tensor
    ) -> torch.Tensor:
        levels = [sr_or_levels] if isinstance(sr_or_levels, torch.Tensor) else list(sr_or_levels)
        if not levels:
            raise InputError("DPF content loss needs at least one SR image")
        total = hr.new_zeros(())
        for level in levels:
            size = tuple(level.shape[-2:])
            if hr.shape[-2] % size[0] or hr.shape[-1] % size[1]:
                raise InputError(
                    f"HR size {tuple(hr.shape[-2:])} is not a multiple of level size {size}"
                )
            target = hr if tuple(hr.shape[-2:]) == size else F.adaptive_avg_pool2d(hr, size)
            total = total + F.l1_loss(apply_bank(level, self.bank), apply_bank(target, self.bank))
        return total / len(levels)
