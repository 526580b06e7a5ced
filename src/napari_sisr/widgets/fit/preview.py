"""Preview controls of the Fit degradation widget: sigma / noise sliders, gain and offset.

The sliders show a :class:`~napari_sisr.core.degradation.params.DegradationParams` (fitted,
loaded or typed in) and edit it. A value the user did not move keeps its exact fitted value (sliders
are quantised; saving after a fit must not round the fit).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, Container, FloatSlider, LineEdit

from ...core.degradation.lrgrid import simulate_lr_region
from ...core.degradation.params import DegradationParams
from ...core.errors import InputError
from ...core.progress import Progress, as_stop, check_stop

if TYPE_CHECKING:  # pragma: no cover
    from .state import FitState

__all__ = ["PreviewControls", "frame_beside", "preview_job", "preview_window"]

SIGMA_STEP = 0.05


def _fmt(value: float) -> str:
    return f"{value:.6g}"


class PreviewControls(Container):
    """Sliders and fields that edit the degradation used by the live preview.

    They start from the parameters the state shows and tell it when they change them.
    """

    def __init__(self, state: FitState) -> None:
        self.enabled_box = CheckBox(value=False, text="Live preview", name="preview")
        self.beside = CheckBox(value=True, text="Beside the LR layer", name="beside")
        default = DegradationParams()
        self.sigma = FloatSlider(
            value=default.sigma, min=0.0, max=12.0, step=SIGMA_STEP, label="PSF sigma"
        )
        self.noise = FloatSlider(
            value=default.noise_std, min=0.0, max=1.0, step=0.005, label="noise std"
        )
        self.gain = LineEdit(value=_fmt(default.gain), label="gain")
        self.offset = LineEdit(value=_fmt(default.offset), label="offset")
        self.sigma.tooltip = "Gaussian PSF width in HR pixels (excluding pixel integration)"
        self.noise.tooltip = "Standard deviation of the additive noise, in LR intensity units"
        self.beside.tooltip = "Place the preview to the right of the LR layer, not over it"
        super().__init__(
            widgets=[self.enabled_box, self.beside, self.sigma, self.noise, self.gain, self.offset]
        )
        self._base = default
        self._state = state
        for w in (self.enabled_box, self.beside, self.sigma, self.noise, self.gain, self.offset):
            w.changed.connect(self._changed)
        state.shown.connect(self.set_params)
        state.noise_range.connect(self.set_noise_range)

    def _changed(self, *_) -> None:
        self._state.edited.emit()

    def set_noise_range(self, maximum: float) -> None:
        """Set the noise slider's range to ``[0, maximum]`` (LR intensity units)."""
        maximum = float(maximum) if math.isfinite(maximum) and maximum > 0 else 1.0
        maximum = float(f"{maximum:.2g}")
        with self.noise.changed.blocked():
            self.noise.max = max(maximum, self.noise.value)
            self.noise.step = self.noise.max / 400
        self._state.edited.emit()

    def set_params(self, params: DegradationParams) -> None:
        """Show ``params``; later edits start from them."""
        self._base = params.model_copy()
        with self.changed.blocked():
            for w in (self.sigma, self.noise, self.gain, self.offset):
                w.changed.block()
            try:
                self.sigma.max = max(self.sigma.max, math.ceil(params.sigma * 1.5))
                noise_max = max(self.noise.max, 4 * params.noise_std)
                self.noise.max = float(f"{noise_max:.2g}") if noise_max > 0 else 1.0
                self.noise.step = self.noise.max / 400
                self.sigma.value = params.sigma
                self.noise.value = params.noise_std
                self.gain.value = _fmt(params.gain)
                self.offset.value = _fmt(params.offset)
            finally:
                for w in (self.sigma, self.noise, self.gain, self.offset):
                    w.changed.unblock()
        self._state.edited.emit()

    def edited(self) -> bool:
        """Whether a control differs from the parameters last set (a half-typed one counts)."""
        try:
            return self.params(self._base.scale) != self._base
        except InputError:
            return True

    def params(self, scale: int) -> DegradationParams:
        """The edited parameters; untouched controls keep the exact values they show.

        Raises :class:`InputError` for a value that is not a number or not allowed.
        """
        base = self._base
        params = base
        changes: dict = {}
        if abs(self.sigma.value - base.sigma) > SIGMA_STEP / 2:
            params = params.with_sigma(float(self.sigma.value))  # keeps a fitted anisotropy
            changes["source"] = "manual"
        if abs(self.noise.value - base.noise_std) > self.noise.step / 2:
            changes["noise_var"] = float(self.noise.value) ** 2
        for key in ("gain", "offset"):
            text = getattr(self, key).value.strip()
            try:
                value = float(text)
            except ValueError:
                raise InputError(f"{key} {text!r} is not a number") from None
            if text != _fmt(getattr(base, key)):
                changes[key] = value
        if changes:  # the fit's diagnostics do not describe an edited model
            changes.update(source="manual", residual_std=None, residual_lag1=None)
        if scale != base.scale:
            changes["scale"] = scale
        return params.updated(**changes) if changes else params.model_copy()


def preview_window(
    lr_shape: tuple[int, int], visible: np.ndarray | None, scale: int, max_hr_px: int = 1024
) -> tuple[tuple[int, int], tuple[int, int]]:
    """LR rows and columns to preview: all of them, or a window of at most ``max_hr_px`` HR
    pixels per side centred on the visible part (``visible`` = the LR layer's corner pixels).
    """
    cap = max(16, max_hr_px // scale)
    out = []
    for axis, n in enumerate(lr_shape):
        if n <= cap:
            out.append((0, n))
            continue
        centre = n // 2 if visible is None else int(visible[:, axis].mean())
        start = int(np.clip(centre - cap // 2, 0, n - cap))
        out.append((start, start + cap))
    return out[0], out[1]


def preview_job(hr, params: DegradationParams, rows, cols, *, seed: int = 0, stop=None):
    """Generator job: the noisy simulated LR window (same noise pattern for every call).

    ``hr`` is the HR plane, or a function returning it (run in the worker: resampling a
    large plane onto the integer grid takes a moment).
    """
    should_stop = as_stop(stop)
    yield Progress(0, 1, "simulating")
    if callable(hr):
        hr = hr()
    check_stop(should_stop)
    out = simulate_lr_region(hr, params, rows, cols, noise=True, rng=np.random.default_rng(seed))
    yield Progress(1, 1, "done")
    return out.astype(np.float32)


def frame_beside(camera, lr, rows, cols, offset) -> None:
    """Pan and zoom ``camera`` so the LR window and the preview beside it are both in view.

    ``lr`` is the LR :class:`~napari_sisr.widgets._layers.LayerPlane`, ``rows`` / ``cols``
    the previewed LR window and ``offset`` the preview's position, in LR pixels.
    """
    (y0, y1), (x0, x1) = rows, cols
    (ty, tx), (sy, sx) = lr.translate, lr.scale
    right = offset[1] + (x1 - x0)  # the preview's right edge
    camera.center = (ty + sy * (y0 + y1) / 2, tx + sx * (x0 + right) / 2)
    camera.zoom = camera.zoom * (x1 - x0) / max(right - x0, 1) * 0.95
