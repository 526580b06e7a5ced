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

from ...core.degradation.fit import iter_fit
from ...core.degradation.lrgrid import residual_map
from ...core.degradation.pairs import estimate_ratio, resample_hr
from ...core.degradation.simulate import add_noise
from ...core.progress import Progress

__all__ = ["ResampledHR", "fit_job", "needs_resampling"]


def needs_resampling(ratio: float | None, scale: int) -> bool:
    """Whether ``ratio`` HR pixels per LR pixel differ from the integer ``scale``."""
    return ratio is not None and abs(ratio - scale) > 1e-6 * scale


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
    """Generator job: fit, then the noisy simulated LR and the residual on the LR grid.

    ``ratio``: HR pixels per LR pixel when that is not ``scale`` (a number, or ``"auto"`` to
    estimate it); the HR plane is then resampled first and the result's notes say how.
    """
    yield Progress(0, 6, "reading the images")
    hr_a, lr_a = np.asarray(hr), np.asarray(lr)
    if ratio == "auto":
        yield Progress(0, 6, "estimating the HR / LR pixel ratio")
        ratio, _ = estimate_ratio(hr_a, lr_a)
    if needs_resampling(ratio, scale):
        yield Progress(0, 6, f"resampling the HR image by {scale} / {ratio:.4g}")
        hr_a = resample_hr(hr_a, float(ratio), scale)
        expected_scale = None  # the layers' pixel sizes describe the grid before resampling
    params = yield from iter_fit(
        hr_a,
        lr_a,
        scale,
        anisotropic=anisotropic,
        poisson=poisson,
        noise=noise,
        stop=stop,
        expected_scale=expected_scale,
    )
    if needs_resampling(ratio, scale):
        params.notes["hr_resampled"] = {"ratio": float(ratio), "zoom": scale / float(ratio)}
    yield Progress(5, 6, "simulating the LR image and the residual")
    clean, residual = residual_map(hr_a, lr_a, params)
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
