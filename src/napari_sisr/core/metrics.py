"""Image quality metrics: PSNR and SSIM, in numpy (evaluation) and batched torch (validation).

Both families use the same definitions, so validation figures printed during training and
figures computed afterwards on saved images agree:

* PSNR ``= 10 log10(data_range**2 / MSE)``; ``data_range`` is always explicit (never guessed
  from the dtype or from the images).
* SSIM with an 11-tap Gaussian window (sigma 1.5, truncated at 3.5 sigma), ``K1 = 0.01``,
  ``K2 = 0.03``, population statistics, averaged over the pixels whose window lies inside the
  image (Wang et al. 2004; ``skimage.metrics.structural_similarity`` with
  ``gaussian_weights=True, use_sample_covariance=False``).
"""

from __future__ import annotations

import math

import numpy as np

from .errors import InputError

__all__ = ["gain_offset", "psnr", "ssim", "psnr_torch", "ssim_torch"]

_SIGMA = 1.5
_RADIUS = 5  # int(3.5 * sigma + 0.5): the window skimage uses for sigma 1.5
_K1, _K2 = 0.01, 0.03


def _check_pair(x: np.ndarray, y: np.ndarray, data_range: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise InputError(f"images differ in shape: {x.shape} vs {y.shape}")
    if not (math.isfinite(data_range) and data_range > 0):
        raise InputError(f"data_range must be a positive number, got {data_range}")
    return x, y


def gain_offset(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``(gain, offset)`` with ``y ~ gain * x + offset`` (gain 1 for a flat
    ``x``): how a fit maps a simulation onto a capture, and how scoring matches each output to
    the HR image's intensity units."""
    xm, ym = x.mean(), y.mean()
    xc = x - xm
    den = float((xc * xc).sum())
    gain = float((xc * (y - ym)).sum() / den) if den > 0 else 1.0
    return gain, float(ym - gain * xm)


def psnr(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB between two images of the same shape.

    Parameters
    ----------
    x, y : array_like
        Test image and reference, any number of dimensions.
    data_range : float
        Peak-to-peak range of the reference intensities (e.g. 1.0 for images normalised to
        [0, 1], 65535 for raw 16-bit data).

    Returns
    -------
    float
        PSNR in dB; ``inf`` for identical images.
    """
    x, y = _check_pair(x, y, data_range)
    mse = float(np.mean((x - y) ** 2))
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def ssim(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    """Mean structural similarity of two 2D images (or the mean over leading axes).

    Parameters
    ----------
    x, y : array_like
        Images of shape ``(..., Y, X)``; leading axes are treated as separate planes.
    data_range : float
        Peak-to-peak range of the intensities (see :func:`psnr`).
    """
    from skimage.metrics import structural_similarity

    x, y = _check_pair(x, y, data_range)
    if x.ndim < 2 or min(x.shape[-2:]) < 2 * _RADIUS + 1:
        raise InputError(f"SSIM needs planes of at least 11 x 11 pixels, got shape {x.shape}")
    planes_x = x.reshape((-1,) + x.shape[-2:])
    planes_y = y.reshape((-1,) + y.shape[-2:])
    values = [
        structural_similarity(
            a,
            b,
            data_range=data_range,
            gaussian_weights=True,
            sigma=_SIGMA,
            use_sample_covariance=False,
        )
        for a, b in zip(planes_x, planes_y, strict=True)
    ]
    return float(np.mean(values))


def _window(torch, dtype, device):
    v = torch.arange(-_RADIUS, _RADIUS + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (v / _SIGMA) ** 2)
    g = g / g.sum()
    return g.to(dtype=dtype, device=device)


def psnr_torch(x, y, data_range: float = 1.0):
    """Per-sample PSNR (dB) of two ``(N, C, Y, X)`` tensors; returns a tensor of length N."""
    import torch

    if x.shape != y.shape:
        raise InputError(f"tensors differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
    mse = ((x.double() - y.double()) ** 2).flatten(1).mean(1)
    return 10.0 * torch.log10(data_range**2 / mse)


def ssim_torch(x, y, data_range: float = 1.0, *, float64: bool = True):
    """Per-sample mean SSIM of two ``(N, C, Y, X)`` tensors (channels averaged), length N.

    The definition of :func:`ssim`. ``float64=True`` (validation figures) computes in double
    precision; ``float64=False`` keeps the inputs' dtype and autograd graph, which is what the
    training loss (:func:`napari_sisr.core.losses.ssim`) differentiates.
    """
    import torch.nn.functional as F

    if x.shape != y.shape:
        raise InputError(f"tensors differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
    if x.ndim != 4 or min(x.shape[-2:]) < 2 * _RADIUS + 1:
        raise InputError(
            f"SSIM needs (N, C, Y, X) images of at least {2 * _RADIUS + 1} px, got {tuple(x.shape)}"
        )
    import torch

    n, c = x.shape[:2]
    if float64:
        x, y = x.double(), y.double()
    x = x.reshape(n * c, 1, *x.shape[-2:])
    y = y.reshape(n * c, 1, *y.shape[-2:])
    g = _window(torch, x.dtype, x.device)
    wy, wx = g.view(1, 1, -1, 1), g.view(1, 1, 1, -1)

    def blur(t):
        return F.conv2d(F.conv2d(t, wy), wx)

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1).view(n, c).mean(1)
