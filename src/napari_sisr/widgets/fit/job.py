"""The Fit widget's background jobs: the fit itself, and the HR plane on an integer grid.

A real pair is rarely an integer number of HR pixels per LR pixel (a STORM rendering and a
TIRF frame are about 7.31 apart). The fit then works on the HR plane resampled to exactly
``scale`` times the LR grid (:func:`~napari_sisr.core.degradation.pairs.resample_hr`), with the
ratio given by the user, read from the layers' pixel sizes, or estimated by registration
("auto"), as ``napari-sisr fit --hr-ratio`` does.
"""

from __future__ import annotations

import threading

import numpy as np

from ...core.degradation.lrgrid import residual_map
from ...core.degradation.pairs import iter_fit_pair, needs_resampling, resample_hr
from ...core.degradation.simulate import add_noise
from ...core.progress import Progress

__all__ = ["ResampledHR", "fit_job", "needs_resampling"]


def fit_job(
    hr,
    lr,
    scale: int,
    *,
    ratio: float | str | None = None,
    anisotropic=False,
    poisson=False,
    noise="residual",
    expected_scale=None,
    seed=0,
    stop=None,
):
    """Generator job: the pair's fit (:func:`~napari_sisr.core.degradation.pairs.iter_fit_pair`,
    as ``napari-sisr fit``), then the noisy simulated LR and the residual on the LR grid.

    ``ratio``: HR pixels per LR pixel when that is not ``scale`` (a number, or ``"auto"`` to
    estimate it); the HR plane is then resampled first and the result's notes say how.
    """
    yield Progress(0, 6, "reading the images")
    pair = yield from iter_fit_pair(
        np.asarray(hr),
        np.asarray(lr),
        scale,
        ratio=ratio,
        anisotropic=anisotropic,
        poisson=poisson,
        noise=noise,
        stop=stop,
        expected_scale=expected_scale,
    )
    params, lr_a = pair.params, np.asarray(lr)
    yield Progress(5, 6, "simulating the LR image and the residual")
    clean, residual = residual_map(pair.hr, lr_a, params)
    rng = np.random.default_rng(seed)
    noisy = add_noise(clean.astype(np.float64) - params.offset, params, rng) + params.offset
    yield Progress(6, 6, "done")
    return params, noisy.astype(np.float32), residual


class ResampledHR:
    """The HR plane on the integer grid, for the live preview: one plane, cached.

    The cache holds the plane's array itself (compared by identity, so a replaced layer
    array is never mistaken for the old one) with the ratio and scale it was made for.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._value: np.ndarray | None = None

    def get(self, data, ratio: float | None, scale: int) -> np.ndarray:
        if not needs_resampling(ratio, scale):
            return np.asarray(data)
        with self._lock:
            key = self._key
            if key is None or key[0] is not data or key[1:] != (ratio, scale):
                self._value = resample_hr(np.asarray(data, np.float64), float(ratio), scale)
                self._key = (data, ratio, scale)
            return self._value
