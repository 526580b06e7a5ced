"""Diffraction-pattern filters (DPFs): a fixed bank of phase-contrast halo kernels.

Choice of kernels. The phase-contrast imaging model of Yin et al. (2012, "Understanding the
phase contrast optics to restore artifact-free microscopy images") writes the point spread
function for an object of phase retardation ``theta`` as::

    PSF_theta(r) = sin(theta) * delta(r) + (cos(theta) - sin(theta)) * airy(r)

where ``airy`` is the diffraction pattern of the annular phase ring: the inverse Fourier
transform of an annulus ``b <= |k| * ell <= 1`` in the pupil, i.e.
``airy(r) = [J1(2 pi u) - b J1(2 pi b u)] / u`` with ``u = r / ell``. It is a ring-shaped
band-pass kernel with zero mean: the bright/dark halo seen around cells. The cascaded
refinement GAN enriches its input with a dictionary of such patterns at several phase
retardations. Because the ring scale (``ell``, in pixels) depends on the objective, the phase
ring and the pixel size, which are unknown here, the bank also spans several ring scales:
filter ``i`` uses scale ``radii[i % len(radii)]`` and one of ``ceil(n / len(radii))`` phase
retardations spread over ``(0, pi)`` at half-step offsets (``theta`` and ``theta + pi`` give the
same kernel up to sign; offsets avoid the pure-delta case ``theta = pi/4`` repeating for every
scale). The bank thus spans the identity plus one band-pass halo per scale, given in the mixed
forms the physical model predicts; a Hann taper makes the truncated kernels fall smoothly to 0.
For fluorescence images the same kernels act as multi-scale ring / edge detectors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError

__all__ = ["DPFBank", "apply_bank", "make_dpf_bank"]


def _airy_ring(size: int, ell: float, b: float) -> np.ndarray:
    from scipy.special import j1

    half = size // 2
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    r = np.hypot(yy, xx)
    u = r / ell
    with np.errstate(invalid="ignore", divide="ignore"):
        a = (j1(2 * np.pi * u) - b * j1(2 * np.pi * b * u)) / u
    a[r == 0] = np.pi * (1 - b * b)
    taper = np.where(r <= half + 0.5, np.cos(np.pi * r / (2 * half + 1)) ** 2, 0.0)
    a = a * taper
    a = a - a.mean()  # exact zero DC: a pure halo / band-pass pattern
    return a / np.abs(a).sum()


def make_dpf_bank(
    n: int = 12, size: int = 15, radii: Sequence[float] = (2.0, 3.5, 6.0), b: float = 0.5
) -> torch.Tensor:
    """Build the DPF bank.

    Parameters
    ----------
    n : int
        Number of filters.
    size : int
        Odd kernel size in pixels.
    radii : sequence of float
        Ring scales ``ell`` in pixels (the outer pupil radius is ``1 / ell`` cycles/px, so
        ``ell >= 2`` stays below Nyquist).
    b : float
        Inner / outer radius ratio of the phase-ring annulus.

    Returns
    -------
    torch.Tensor
        ``(n, 1, size, size)`` float32 kernels.
    """
    if n < 1:
        raise InputError(f"number of DPFs must be >= 1, got {n}")
    if size < 3 or size % 2 == 0:
        raise InputError(f"DPF size must be odd and >= 3, got {size}")
    if not radii or min(radii) <= 0:
        raise InputError(f"DPF radii must be positive, got {list(radii)}")
    radii = [float(r) for r in radii]
    n_phase = math.ceil(n / len(radii))
    delta = np.zeros((size, size))
    delta[size // 2, size // 2] = 1.0
    kernels = []
    for i in range(n):
        ring = _airy_ring(size, radii[i % len(radii)], b)
        theta = math.pi * (i // len(radii) + 0.5) / n_phase
        kernels.append(math.sin(theta) * delta + (math.cos(theta) - math.sin(theta)) * ring)
    return torch.from_numpy(np.stack(kernels)[:, None].astype(np.float32))


def apply_bank(x: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """Filter every channel of ``x`` (N, C, H, W) with every kernel: (N, C * n, H, W).

    Zero padding, so the result near an edge depends only on pixels within the kernel radius
    (tiled and untiled inference agree away from the image border).
    """
    n, c, h, w = x.shape
    k = bank.to(dtype=x.dtype, device=x.device)
    out = F.conv2d(x.reshape(n * c, 1, h, w), k, padding=k.shape[-1] // 2)
    return out.reshape(n, c * k.shape[0], h, w)


class DPFBank(nn.Module):
    """Fixed (not learned) DPF bank as a module; the kernels are a saved buffer."""

    def __init__(self, n: int = 12, size: int = 15, radii: Sequence[float] = (2.0, 3.5, 6.0)):
        super().__init__()
        self.register_buffer("weight", make_dpf_bank(n, size, radii))

    @property
    def radius(self) -> int:
        return self.weight.shape[-1] // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply_bank(x, self.weight)

    def flops(self, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> float:
        """2 x MACs of the filtering, for the FLOP counter."""
        return 2.0 * self.weight.shape[-1] ** 2 * out.numel()
