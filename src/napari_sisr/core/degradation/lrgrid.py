"""Simulate the degradation model on the pixel grid of a real LR capture.

:func:`~napari_sisr.core.degradation.simulate.simulate_lr` produces the LR grid ``HR // scale`` that
starts at the HR origin. A fitted model instead maps the HR image onto the grid of a *real* LR
capture, which may be offset inside the HR field (the offset is part of ``shift_yx``) and may
be larger or smaller than ``HR // scale``. The functions here evaluate the model on any
rectangle of that grid, reading only the HR window the rectangle needs, so a preview of a
gigapixel plane costs no more than the preview of a small one.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .params import DegradationParams
from .simulate import add_noise, axis_operator

__all__ = ["simulate_lr_region", "residual_map"]


def _axis_rows(n_hr: int, s: int, sigma: float, shift: float, start: int, stop: int):
    """Rows ``start:stop`` of the axis operator, and the HR span ``(h0, h1)`` they read."""
    if not 0 <= start < stop:
        raise InputError(f"invalid LR range {start}:{stop}")
    op = axis_operator(n_hr, s, sigma, shift, n_lr=stop)[start:stop]
    if op.nnz == 0:
        return op, 0, 1
    h0, h1 = int(op.indices.min()), int(op.indices.max()) + 1
    return op[:, h0:h1], h0, h1


def simulate_lr_region(
    hr,
    params: DegradationParams,
    rows: tuple[int, int],
    cols: tuple[int, int],
    *,
    noise: bool = False,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Simulate the LR pixels ``[rows[0]:rows[1], cols[0]:cols[1]]`` of the model's LR grid.

    Parameters
    ----------
    hr : array_like
        2D HR plane; anything that supports ``shape`` and 2D slicing (numpy, dask, zarr).
        Only the window the requested pixels depend on is read.
    params : DegradationParams
        The degradation model; its ``shift_yx`` places the LR grid on the HR image.
    rows, cols : (int, int)
        Half-open ranges of LR pixels. They may extend past ``HR // scale``; HR borders are
        half-sample symmetric, as in :func:`~napari_sisr.core.degradation.simulate.simulate_lr`.
    noise : bool
        Add the model's noise.
    rng : numpy.random.Generator or int, optional
        Source of the noise.

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``(rows[1] - rows[0], cols[1] - cols[0])``.
    """
    if len(hr.shape) != 2:
        raise InputError(f"expected a 2D HR plane, got shape {tuple(hr.shape)}")
    s = params.scale
    sy, sx = params.sigma_yx
    dy, dx = params.shift_yx
    ay, y0, y1 = _axis_rows(hr.shape[0], s, sy, dy, *rows)
    ax, x0, x1 = _axis_rows(hr.shape[1], s, sx, dx, *cols)
    window = np.asarray(hr[y0:y1, x0:x1], dtype=np.float64)
    if not np.all(np.isfinite(window)):
        raise InputError("the HR image contains NaN or infinite values")
    signal = params.gain * (ax @ (ay @ window).T).T
    if noise:
        signal = add_noise(signal, params, rng)
    return signal + params.offset


def residual_map(hr, lr: np.ndarray, params: DegradationParams) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free simulation of a real LR capture and the residual ``lr - simulation``.

    Parameters
    ----------
    hr : array_like
        2D HR plane the model was fitted on.
    lr : numpy.ndarray
        The real 2D LR capture.
    params : DegradationParams
        Fitted model (``shift_yx`` relative to the whole ``hr`` plane).

    Returns
    -------
    simulated, residual : numpy.ndarray
        float32 arrays with the shape of ``lr``. For a good fit the residual looks like white
        noise with standard deviation ``params.noise_std``.
    """
    lr = np.asarray(lr, dtype=np.float64)
    if lr.ndim != 2:
        raise InputError(f"expected a 2D LR plane, got shape {lr.shape}")
    sim = simulate_lr_region(hr, params, (0, lr.shape[0]), (0, lr.shape[1]))
    return sim.astype(np.float32), (lr - sim).astype(np.float32)
