"""The Super-resolve widget's *Degradation* group, for degradation-aware models.

A degradation-aware model is told the PSF and noise of the image: from a fit JSON, typed in,
from the optics, tuned on a pair (the PSF width and noise that best restore a reference layer,
a real HR capture of the field: :func:`napari_sisr.tune_steering`), or automatically (noise
estimated from the image, PSF from its metadata or the model card). The group is shown only
for such models; changing a value refreshes the live preview, so the PSF width can be tuned
by eye. What a job was told is shown under the controls.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, FloatSpinBox, PushButton

from ...core.errors import InputError
from ...core.limits import MAX_NOISE_FRACTION, MAX_SIGMA_HR
from .._jobs import JobRunner, notify_error, save_params_as
from .._layers import layer_plane
from .._text import WrappingLabel

if TYPE_CHECKING:  # pragma: no cover
    from .state import SuperResolveState

AUTO, FIT, TYPED, OPTICS = "automatic", "from a fit (JSON)", "typed in", "from the optics"
TUNED = "tuned on a pair"
MODES = (AUTO, FIT, TYPED, OPTICS, TUNED)


def tune_job(model, lr, hr, *, stop=None):
    """Worker job: :func:`napari_sisr.tune_steering` on one LR / HR plane pair."""
    from ...core.evaluation.tuning import iter_tune_steering

    return (yield from iter_tune_steering(model, np.asarray(lr), np.asarray(hr), stop=stop))


class DegradationControls(Container):
    """Mode, values and the line saying what the last job or preview was told."""

    def __init__(self, state: SuperResolveState) -> None:
        self.state = state
        self.mode = ComboBox(label="Degradation", choices=list(MODES), value=AUTO, name="deg_mode")
        self.fit_path = FileEdit(label="Fit JSON", mode="r", filter="*.json", name="deg_fit")
        self.sigma = FloatSpinBox(
            label="PSF sigma (HR px)",
            min=0.0,
            max=MAX_SIGMA_HR,
            step=0.1,
            value=1.5,
            name="deg_sigma",
        )
        self.noise = FloatSpinBox(
            label="Noise (% of range)",
            min=0.0,
            max=100 * MAX_NOISE_FRACTION,
            step=0.1,
            value=2.0,
            name="deg_noise",
        )
        self.na = FloatSpinBox(label="NA", min=0.05, max=1.7, step=0.05, value=1.4, name="deg_na")
        self.wavelength = FloatSpinBox(
            label="Emission (nm)", min=200.0, max=2000.0, step=10.0, value=520.0, name="deg_wl"
        )
        self.pixel = FloatSpinBox(
            label="LR pixel (nm, 0: image's)",
            min=0.0,
            max=1e5,
            step=5.0,
            value=0.0,
            name="deg_pixel",
        )
        self.tuned = None  # the DegradationParams the last tuning found
        self._tuned_model = ""  # and the model it was tuned for
        self.shown = WrappingLabel(value="", label="Told", name="deg_shown")  # a long note wraps
        from .adapt import AdaptControls

        self.adapt = AdaptControls(self._adapt_inputs, state.model_made.emit)
        values = [self.mode, self.fit_path, self.sigma, self.noise, self.na, self.wavelength]
        super().__init__(widgets=[*values, self.pixel, self._tune_row(), self.adapt, self.shown])
        self._tooltips()
        self.margins = (0, 0, 0, 0)
        self.mode.changed.connect(self._on_mode)
        for w in (*values, self.pixel):
            w.changed.connect(self._changed)
        state.model_changed.connect(self.set_model)
        state.told.connect(self.show)
        self.active = self.visible = False  # shown for degradation-aware models only
        self._on_mode(AUTO)

    def _tune_row(self) -> Container:
        """*Tune on reference*, its Cancel and *Save...*, in one row."""
        self.tune_button = PushButton(text="Tune on reference", name="deg_tune")
        self.tune_cancel = PushButton(text="Cancel", name="deg_tune_cancel")
        self.tune_save = PushButton(text="Save...", name="deg_tune_save")
        row = Container(
            widgets=[self.tune_button, self.tune_cancel, self.tune_save], layout="horizontal"
        )
        row.margins = (0, 0, 0, 0)
        self.tune_row = row
        self.tune_runner = JobRunner(run_button=self.tune_button, cancel_button=self.tune_cancel)
        self.tune_runner.bind_lifetime(row.native)
        self.tune_button.changed.connect(self.tune)
        self.tune_save.changed.connect(lambda *_: self.save_tuned())
        return row

    def _tooltips(self) -> None:
        self.tune_save.tooltip = (
            "Save the tuned values as JSON, for 'napari-sisr predict --degradation' or the "
            "'from a fit (JSON)' mode"
        )
        self.tune_button.tooltip = (
            "Super-resolve the chosen layer with a range of PSF widths and noise levels and "
            "keep those that best restore the reference layer (Score against, below): a real "
            "HR capture of the same field"
        )
        self.mode.tooltip = (
            "What this degradation-aware model is told about the image: automatic estimates "
            "the noise from the image and takes the PSF from its metadata or the model card"
        )
        self.sigma.tooltip = "Gaussian PSF standard deviation in pixels of the result"
        self.noise.tooltip = "Gaussian noise standard deviation, percent of the intensity range"
        self.fit_path.tooltip = (
            "A degradation JSON: from the Fit widget, 'napari-sisr fit' or 'napari-sisr psf' "
            "(beads)"
        )

    def set_model(self, meta: dict | None) -> None:
        """Show the group only for degradation-aware models; start at the card's default."""
        from ...core.inference.steering import is_degradation_aware_arch

        aware = bool(meta) and is_degradation_aware_arch(meta.get("arch"))
        self.active = self.visible = aware
        self.shown.value = ""
        if self.tuned is not None and self._tuned_model != self._model_ref():
            self.tuned = None  # tuned for another model: tune again
        if aware:
            default = (meta.get("steering") or {}).get("sigma")
            if default is not None:
                self.sigma.value = float(default)

    def _model_ref(self) -> str | None:
        try:
            return str(self.state.chosen_model())
        except InputError:
            return None

    def _on_mode(self, mode) -> None:
        self.fit_path.visible = mode == FIT
        self.sigma.visible = mode == TYPED
        self.noise.visible = mode == TYPED
        for w in (self.na, self.wavelength, self.pixel):
            w.visible = mode == OPTICS
        self.tune_row.visible = mode == TUNED
        self.adapt.visible = mode in (FIT, TYPED)  # adaptation needs the PSF

    def _changed(self, *_) -> None:
        self.state.settings_changed.emit()

    def show(self, notes) -> None:
        """What the job was told (its notes), under the controls."""
        text = "; ".join(n.removeprefix("degradation: ") for n in notes)
        self.shown.value = text

    def steering(self):
        """The :class:`Steering` of the controls (``None`` when hidden or automatic)."""
        from ...core.degradation.params import DegradationParams
        from ...core.inference.steering import Optics, Steering

        if not self.active or self.mode.value == AUTO:
            return None
        if self.mode.value == FIT:
            path = str(self.fit_path.value or "")
            if path in ("", ".") or Path(path).is_dir():
                raise InputError("choose the fit JSON of the degradation (or another mode)")
            return Steering(fit=DegradationParams.load(path))
        if self.mode.value == TUNED:
            if self.tuned is None:
                raise InputError(
                    "tune on a pair first: choose the reference layer (Score against) and press "
                    "'Tune on reference'"
                )
            return Steering(fit=self.tuned)
        if self.mode.value == TYPED:
            return Steering(sigma=float(self.sigma.value), noise_std=float(self.noise.value) / 100)
        pixel = float(self.pixel.value) or None
        optics = Optics(na=self.na.value, wavelength_nm=self.wavelength.value, pixel_nm=pixel)
        return Steering(optics=optics)

    def _adapt_inputs(self):
        """What *Adapt to this image* needs: the model, the chosen layer's current plane, the
        PSF of the controls and the layer's name (:class:`InputError` naming what is missing)."""
        model = self.state.chosen_model()
        sources = self.state.chosen_layers()
        if not sources:
            raise InputError("choose the layer to adapt to (its captures)")
        steer = self.steering()
        if steer is None:
            raise InputError("give the PSF first: a fit or bead JSON, or a width typed in")
        plane = layer_plane(sources[0], self.state.point)
        return model, [plane.data], steer, sources[0].name

    # ------------------------------------------------------------------ tuning on a pair
    def tune(self, *_):
        """Tune the steering on the chosen layer and the reference layer (returns the worker)."""
        try:
            model = self.state.chosen_model()
            sources, ref = self.state.chosen_layers(), self.state.reference
            if ref is None:
                raise InputError("choose the reference layer (Score against): a real HR capture")
            if not sources:
                raise InputError("choose the layer to super-resolve (its LR capture)")
            lr, hr = (layer_plane(lyr, self.state.point) for lyr in (sources[0], ref))
        except InputError as err:
            notify_error(f"Tune: {err}")
            return None
        self.shown.value = "tuning..."
        self._tuned_model = str(model)
        tune = self.tune_runner.start
        return tune(tune_job, str(model), lr.data, hr.data, on_done=self._tuned, description="Tune")

    def _tuned(self, result) -> None:
        self.tuned = result.params
        self.shown.value = (
            f"tuned: PSF sigma {result.params.sigma:.2f} HR px, noise std "
            f"{result.params.noise_std:.4g} (the image's units): {result.psnr:.2f} dB on the "
            f"pair; told the fit {result.psnr_fit:.2f} dB, bicubic {result.psnr_bicubic:.2f} dB"
            + "".join(f"; {w}" for w in result.warnings)
        )
        self.state.settings_changed.emit()

    def save_tuned(self, path=None):
        """Save the tuned values as JSON (asks for a file when ``path`` is None)."""
        if self.tuned is None:
            notify_error("nothing to save: tune on a pair first")
            return None
        title, what = "Save the tuned degradation", "tuned degradation"
        return save_params_as(
            self.native, self.tuned, path, title=title, default="tuned.json", what=what
        )
