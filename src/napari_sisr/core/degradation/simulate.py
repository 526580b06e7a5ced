"""The physical degradation model, simulated in numpy and in torch.

``LR = gain * D_s(K_sigma * T_shift(HR)) + offset + noise``

Blur, shift and block-mean are all linear and separable, so along each axis they collapse into
one sparse matrix ``A`` of shape ``(n_lr, n_hr)`` and the noise-free LR image of a plane is
``A_y @ HR @ A_x.T``. Both twins (numpy and torch) use the same matrices, so they agree to
float round-off; the fit uses them too, so what is fitted is exactly what is simulated.

Conventions
-----------
* ``sigma`` is the Gaussian PSF standard deviation in HR pixels; pixel integration is the
  block mean ``D_s`` and is never folded into ``sigma``.
* ``T_shift(HR)(y) = HR(y - dy)``: a positive shift moves the content towards larger indices.
* Borders are half-sample symmetric (``d c b a | a b c d``), in every twin.
* LR pixel ``i`` covers HR pixels ``s*i .. s*i+s-1``; HR rows or columns past the last full
  block are dropped.
* Noise is Gaussian with variance ``noise_var + poisson_a * max(signal, 0)``, where ``signal``
  is ``gain * D_s(K * T(HR))`` (the camera offset carries no shot noise).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from ..errors import InputError, InputTypeError
from .params import DegradationParams

__all__ = [
    "axis_operator",
    "axis_operators",
    "blur_weights",
    "simulate_lr",
    "simulate_lr_torch",
    "add_noise",
    "lr_shape",
    "soften",
]


def blur_weights(sigma: float, shift: float = 0.0) -> tuple[np.ndarray, int]:
    """Sampled 1D kernel of a shifted Gaussian.

    Returns ``(w, r)`` with ``w`` of length ``2 r + 1`` such that the blurred, shifted signal is
    ``out[y] = sum_v w[v + r] * x[y + v]``. ``w`` is the Gaussian of width ``sigma`` centred at
    ``-shift``, sampled at integers and normalised to sum 1. Below ``sigma = 0.25`` the blur is
    negligible and the shift alone is applied by linear interpolation.
    """
    sigma = float(sigma)
    shift = float(shift)
    if not (math.isfinite(sigma) and math.isfinite(shift)):
        raise InputError(f"sigma and shift must be finite, got sigma={sigma}, shift={shift}")
    if sigma < 0.25:
        r = int(math.floor(abs(shift))) + 1
        v = np.arange(-r, r + 1, dtype=np.float64)
        w = np.clip(1.0 - np.abs(v + shift), 0.0, None)
    else:
        r = int(math.ceil(4.0 * sigma + abs(shift))) + 1
        v = np.arange(-r, r + 1, dtype=np.float64)
        w = np.exp(-0.5 * ((v + shift) / sigma) ** 2)
    return w / w.sum(), r


def _fold(idx: np.ndarray, n: int) -> np.ndarray:
    """Half-sample symmetric index folding into ``[0, n)``."""
    p = np.mod(idx, 2 * n)
    return np.where(p >= n, 2 * n - 1 - p, p)


@lru_cache(maxsize=256)
def _axis_operator_cached(
    n_hr: int, scale: int, sigma: float, shift: float, n_lr: int
) -> sp.csr_matrix:
    w, r = blur_weights(sigma, shift)
    i = np.arange(n_lr)[:, None, None]
    k = np.arange(scale)[None, :, None]
    v = np.arange(-r, r + 1)[None, None, :]
    cols = _fold(scale * i + k + v, n_hr)
    vals = np.broadcast_to(w[None, None, :] / scale, cols.shape)
    rows = np.broadcast_to(i, cols.shape)
    mat = sp.coo_matrix(
        (vals.ravel(), (rows.ravel(), cols.ravel())), shape=(n_lr, n_hr), dtype=np.float64
    ).tocsr()
    mat.sum_duplicates()
    return mat


def axis_operator(
    n_hr: int, scale: int, sigma: float, shift: float = 0.0, n_lr: int | None = None
) -> sp.csr_matrix:
    """Sparse ``(n_lr, n_hr)`` matrix applying shift, blur and block mean along one axis.

    Parameters
    ----------
    n_hr : int
        Length of the HR axis.
    scale : int
        Block size ``s`` of the mean (1 for blur only).
    sigma, shift : float
        Gaussian width and translation in HR pixels.
    n_lr : int, optional
        Number of output samples; defaults to ``n_hr // scale``.
    """
    if n_lr is None:
        n_lr = n_hr // scale
    if n_lr < 1:
        raise InputError(f"an axis of {n_hr} HR pixels is shorter than one block of {scale}")
    # Round the float arguments so that the cache is hit by near-identical calls.
    return _axis_operator_cached(
        int(n_hr), int(scale), round(float(sigma), 9), round(float(shift), 9), int(n_lr)
    )


@lru_cache(maxsize=32)
def _window_to_operator(n_hr: int, scale: int, radius: int, n_lr: int) -> sp.csr_matrix:
    """Sparse ``Q`` of shape ``(n_lr * n_hr, 2 R + 1)`` with ``Q @ w`` = the flat operator.

    For a kernel ``w`` sampled on ``-R .. R`` (zeros past its own radius), ``Q @ w`` is the
    ``(n_lr, n_hr)`` operator of :func:`axis_operator`, flattened; border folding and the block
    mean only depend on the integers, so one ``Q`` serves a whole batch of kernels. (Sparse on
    purpose: a dense product would start BLAS threads beside the training's own.)
    """
    i = np.arange(n_lr)[:, None, None]
    k = np.arange(scale)[None, :, None]
    v = np.arange(-radius, radius + 1)[None, None, :]
    cols = _fold(scale * i + k + v, n_hr)
    flat = np.broadcast_to(i * n_hr, cols.shape) + cols
    taps = np.broadcast_to(np.arange(2 * radius + 1)[None, None, :], cols.shape)
    vals = np.full(cols.size, 1.0 / scale)
    mat = sp.coo_matrix(
        (vals, (flat.ravel(), taps.ravel())), shape=(n_lr * n_hr, 2 * radius + 1)
    ).tocsr()
    mat.sum_duplicates()
    return mat


def axis_operators(
    n_hr: int, scale: int, sigmas: Sequence[float], shifts: Sequence[float], n_lr: int | None = None
) -> np.ndarray:
    """Dense ``(N, n_lr, n_hr)`` stack of :func:`axis_operator` matrices, one per kernel.

    The batched form used for blind training, where every patch has its own ``sigma``: one
    matrix product instead of ``N`` sparse constructions. Equal to the sparse operators to
    float round-off.
    """
    if n_lr is None:
        n_lr = n_hr // scale
    if n_lr < 1:
        raise InputError(f"an axis of {n_hr} HR pixels is shorter than one block of {scale}")
    kernels = [blur_weights(sg, sh) for sg, sh in zip(sigmas, shifts, strict=True)]
    radius = max(r for _, r in kernels)
    windows = np.zeros((len(kernels), 2 * radius + 1))
    for row, (w, r) in zip(windows, kernels, strict=True):
        row[radius - r : radius + r + 1] = w
    flat = _window_to_operator(int(n_hr), int(scale), radius, int(n_lr)) @ windows.T
    return np.ascontiguousarray(flat.T).reshape(len(kernels), n_lr, n_hr)


def check_shift(params: DegradationParams, shape_yx: Sequence[int]) -> None:
    """Refuse a shift that moves the field off the image (it would only build huge kernels)."""
    for d, n, axis in zip(params.shift_yx, shape_yx, "yx", strict=True):
        if abs(d) > n:
            raise InputError(
                f"shift {d:g} HR px along {axis} is larger than the image ({n} px): the "
                "simulated field would lie outside it"
            )


def lr_shape(hr_shape: Sequence[int], scale: int) -> tuple[int, int]:
    """LR ``(y, x)`` shape produced from an HR plane of shape ``hr_shape[-2:]``."""
    return int(hr_shape[-2]) // scale, int(hr_shape[-1]) // scale


def _apply_plane_ops(planes: np.ndarray, ay: sp.csr_matrix, ax: sp.csr_matrix) -> np.ndarray:
    """Apply ``ay @ P @ ax.T`` to every plane of a ``(n, y, x)`` float64 stack."""
    out = np.empty((planes.shape[0], ay.shape[0], ax.shape[0]), dtype=np.float64)
    for k, plane in enumerate(planes):
        tmp = ay @ plane  # (m_y, x)
        out[k] = (ax @ tmp.T).T
    return out


def _check_hr(hr: np.ndarray) -> np.ndarray:
    import os

    if isinstance(hr, str | os.PathLike):
        raise InputTypeError(
            f"simulate_lr takes an image array, not a path ({hr}): read it first (e.g. "
            "napari_sisr.core.io.images.read_image)"
        )
    hr = np.asarray(hr)
    if hr.dtype.kind not in "uif":
        raise InputTypeError(f"unsupported image dtype {hr.dtype}: expected integers or floats")
    if hr.ndim < 2:
        raise InputError(f"expected an image with at least 2 dimensions, got shape {hr.shape}")
    return hr


def _is_rgb(hr: np.ndarray, rgb: bool | None) -> bool:
    if rgb is not None:
        return bool(rgb)
    return hr.ndim == 3 and hr.shape[-1] in (3, 4) and hr.shape[0] > 4


def add_noise(
    signal: np.ndarray,
    params: DegradationParams,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Add the model's Gaussian / Poisson-Gaussian noise to a noise-free ``gain * D(K*T(HR))``.

    ``signal`` excludes the offset; the offset is added by the caller.
    """
    rng = np.random.default_rng(rng)
    var = np.full(signal.shape, params.noise_var, dtype=np.float64)
    if params.poisson_a:
        var = var + params.poisson_a * np.clip(signal, 0.0, None)
    if not np.any(var > 0):
        return signal
    return signal + np.sqrt(var) * rng.standard_normal(signal.shape)


def _as_params(params, fields: dict) -> DegradationParams:
    """``params`` as validated parameters: given, a dict of fields, or the keyword fields."""
    from .params import _validated

    if params is None:
        return _validated(DegradationParams, fields)
    if isinstance(params, dict):
        return _validated(DegradationParams, {**params, **fields})
    if not isinstance(params, DegradationParams):
        raise InputTypeError(
            f"params must be DegradationParams or a dict of its fields, not {type(params).__name__}"
        )
    return params.updated(**fields) if fields else params


def _as_rng(rng) -> np.random.Generator:
    if rng is None or isinstance(rng, np.random.Generator):
        return np.random.default_rng(rng)
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool) and 0 <= rng < 2**128:
        return np.random.default_rng(int(rng))
    raise InputTypeError(f"rng must be a numpy Generator or a seed from 0 to 2**128, got {rng!r}")


def simulate_lr(
    hr: np.ndarray,
    params: DegradationParams | dict | None = None,
    rng: np.random.Generator | int | None = None,
    *,
    rgb: bool | None = None,
    noise: bool = True,
    **fields,
) -> np.ndarray:
    """Simulate the low-resolution capture of a high-resolution image (numpy twin).

    Parameters
    ----------
    hr : array_like
        HR image of shape ``(..., Y, X)``, or ``(Y, X, C)`` for RGB. Leading axes (Z, T, C)
        are degraded plane by plane; with ``params.sigma_z`` set, axis ``-3`` is blurred too.
    params : DegradationParams or dict
        The degradation model (a dict of its fields is validated the same way).
    rng : numpy.random.Generator or int, optional
        Source of the noise; an int seeds a new generator.
    rgb : bool, optional
        Treat the last axis as colour channels. Default: a last axis of 3 or 4 on a 3D array.
    noise : bool
        Add noise (``False`` gives the noise-free simulation).
    **fields
        Fields of :class:`DegradationParams` laid over ``params`` (``scale=2, sigma=1.5``).

    Returns
    -------
    numpy.ndarray
        float32 LR image with Y and X divided by ``params.scale`` (remainders dropped).
    """
    params = _as_params(params, fields)
    rng = _as_rng(rng)
    hr = _check_hr(hr)
    is_rgb = _is_rgb(hr, rgb)
    work = np.moveaxis(hr, -1, 0) if is_rgb else hr
    work = work.astype(np.float64, copy=False)
    if not np.all(np.isfinite(work)):
        raise InputError("the HR image contains NaN or infinite values")
    s = params.scale
    ny, nx = work.shape[-2:]
    my, mx = lr_shape(work.shape, s)
    if my < 1 or mx < 1:
        raise InputError(f"HR image {ny}x{nx} is smaller than one {s}x{s} block")
    check_shift(params, (ny, nx))
    sy, sx = params.sigma_yx
    dy, dx = params.shift_yx
    ay = axis_operator(ny, s, sy, dy)
    ax = axis_operator(nx, s, sx, dx)
    lead = work.shape[:-2]
    if params.sigma_z and work.ndim >= 3:
        az = axis_operator(work.shape[-3], 1, params.sigma_z)
        work = np.moveaxis(work, -3, -1)
        work = (work.reshape(-1, work.shape[-1]) @ az.T).reshape(work.shape)
        work = np.moveaxis(work, -1, -3)
    planes = work.reshape((-1, ny, nx))
    lr = params.gain * _apply_plane_ops(planes, ay, ax)
    if noise:
        lr = add_noise(lr, params, rng)
    lr = (lr + params.offset).reshape(lead + (my, mx))
    if is_rgb:
        lr = np.moveaxis(lr, 0, -1)
    with np.errstate(over="ignore"):
        out = lr.astype(np.float32)
    if not np.isfinite(out).all():
        raise InputError(
            "the simulated capture exceeds the float32 range: the HR image's intensities "
            f"times the gain ({params.gain:g}) plus the offset and noise are too large"
        )
    return out


def _dense(mat: sp.csr_matrix, torch, device, dtype):
    return torch.as_tensor(mat.toarray(), dtype=dtype, device=device)


def simulate_lr_torch(
    hr,
    params: DegradationParams | Sequence[DegradationParams],
    generator=None,
    *,
    noise: bool = True,
):
    """Simulate LR images from a batch of HR tensors (torch twin, any device).

    Parameters
    ----------
    hr : torch.Tensor
        HR batch of shape ``(N, C, Y, X)``.
    params : DegradationParams or sequence of DegradationParams
        One model for the whole batch, or one per sample (blind training); all must share
        the same ``scale``.
    generator : torch.Generator, optional
        Source of the noise (on the tensor's device).
    noise : bool
        Add noise.

    Returns
    -------
    torch.Tensor
        LR batch ``(N, C, Y // s, X // s)`` with the dtype and device of ``hr``.
    """
    import torch

    if hr.ndim != 4:
        raise InputError(f"expected an (N, C, Y, X) tensor, got shape {tuple(hr.shape)}")
    n, _, ny, nx = hr.shape
    plist = [params] * n if isinstance(params, DegradationParams) else list(params)
    if len(plist) != n:
        raise InputError(f"got {len(plist)} parameter sets for a batch of {n}")
    scales = {p.scale for p in plist}
    if len(scales) != 1:
        raise InputError(f"all parameter sets of a batch must share one scale, got {scales}")
    s = scales.pop()
    dtype = hr.dtype if hr.dtype.is_floating_point else torch.float32
    if all(p is plist[0] for p in plist):  # one model for the batch: one cached operator
        (sy, sx), (dy, dx) = plist[0].sigma_yx, plist[0].shift_yx
        ays = axis_operator(ny, s, sy, dy).toarray()[None]
        axs = axis_operator(nx, s, sx, dx).toarray()[None]
    else:  # one kernel per sample, built in one go
        ays = axis_operators(ny, s, [p.sigma_yx[0] for p in plist], [p.shift_yx[0] for p in plist])
        axs = axis_operators(nx, s, [p.sigma_yx[1] for p in plist], [p.shift_yx[1] for p in plist])
    ay = torch.as_tensor(ays, dtype=dtype, device=hr.device)[:, None]
    ax = torch.as_tensor(axs, dtype=dtype, device=hr.device)[:, None]
    x = hr.to(dtype)
    signal = ay @ x @ ax.transpose(-1, -2)
    gain = torch.as_tensor([p.gain for p in plist], dtype=dtype, device=hr.device)
    offset = torch.as_tensor([p.offset for p in plist], dtype=dtype, device=hr.device)
    signal = signal * gain.view(n, 1, 1, 1)
    if noise:
        b = torch.as_tensor([p.noise_var for p in plist], dtype=dtype, device=hr.device)
        a = torch.as_tensor([p.poisson_a or 0.0 for p in plist], dtype=dtype, device=hr.device)
        var = b.view(n, 1, 1, 1) + a.view(n, 1, 1, 1) * signal.clamp_min(0.0)
        eps = torch.randn(signal.shape, generator=generator, dtype=dtype, device=hr.device)
        signal = signal + var.sqrt() * eps
    return signal + offset.view(n, 1, 1, 1)


def soften(hr, sigmas):
    """Blur each HR patch of a batch by its own Gaussian (HR px; 0 leaves it unchanged).

    Separable, reflect-padded, on the batch's device; used for the ``content_sigma`` of a
    blind :class:`~napari_sisr.core.training.config.DegradationRange`. The kernel of each patch
    reaches ``ceil(3 sigma)`` px; all patches are blurred by one grouped convolution (kernels
    zero-padded to the widest), which gives the same result as one convolution each.
    """
    import torch
    import torch.nn.functional as F

    sigmas = [float(s) for s in sigmas]
    n, c, ny, nx = hr.shape
    if len(sigmas) != n:
        raise InputError(f"got {len(sigmas)} sigmas for a batch of {n}")
    active = [i for i, s in enumerate(sigmas) if s > 0]
    out = hr.clone()
    if not active:
        return out
    limit = min(ny, nx) - 1  # reflect padding needs a radius below the patch size
    radii = [max(1, min(math.ceil(3 * sigmas[i]), limit)) for i in active]
    big = max(radii)
    t = torch.arange(-big, big + 1, device=hr.device, dtype=hr.dtype)
    sig = torch.tensor([sigmas[i] for i in active], device=hr.device, dtype=hr.dtype)
    reach = torch.tensor(radii, device=hr.device, dtype=hr.dtype)
    k = torch.exp(-0.5 * (t[None] / sig[:, None]) ** 2) * (t.abs()[None] <= reach[:, None])
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)
    m = len(active) * c
    idx = torch.tensor(active, device=hr.device)
    x = F.pad(hr[idx].reshape(1, m, ny, nx), (big, big, big, big), mode="reflect")
    x = F.conv2d(x, k.view(m, 1, 1, -1), groups=m)
    x = F.conv2d(x, k.view(m, 1, -1, 1), groups=m)
    out[idx] = x.view(len(active), c, ny, nx)
    return out
