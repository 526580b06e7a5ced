"""The "Fit degradation" dock widget.

Pick an HR image layer, a real LR capture of the same field and the scale; *Fit* runs
:func:`~napari_sisr.core.degradation.fit.iter_fit` in a background thread on the planes shown by
the dims sliders (luminance or one channel of RGB layers); a pair that is not an integer number
of HR pixels per LR pixel apart is fitted on the HR plane resampled to the scale (see
:mod:`.job`). The fitted parameters are listed with the fit's verdict; the simulated LR (with
the fitted noise) overlays the LR layer exactly, hidden, and the residual
``LR - noise-free simulation``, which looks like white noise when the model fits, lies below it.
Parameters are saved to and loaded from JSON. *Live preview* simulates the LR image from the
sliders' sigma, noise, gain and offset beside the real one, to judge a degradation by eye.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    LineEdit,
    PushButton,
    SpinBox,
    Table,
)

from ...core.degradation.pairs import parse_ratio
from ...core.degradation.params import DegradationParams
from ...core.errors import InputError
from ...core.limits import MAX_SCALE, MIN_SCALE
from .._jobs import (
    JobControls,
    JobRunner,
    error_message,
    notify_error,
    save_params_as,
)
from .._layers import (
    RGB_CHANNELS,
    LayerPlane,
    add_aligned_image,
    image_layer_choices,
    layer_plane,
    viewer_camera,
)
from .._text import WrappingLabel, fit_to_dock
from .job import ResampledHR, fit_job
from .pairing import OUTPUT_NAMES, guess_scale, pick_pair, pixel_size_ratio, ratio_hint
from .preview import PreviewControls, frame_beside, preview_job, preview_window
from .state import FitState
from .table import fit_rows, params_rows, setup_table, verdict_html

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["FitDegradationWidget", "fit_job"]

SIMULATED, RESIDUAL, PREVIEW = OUTPUT_NAMES


#: (label, ``fit_degradation(noise=...)``) of the *noise from* choice.
NOISE_CHOICES = [("the fit's residual", "residual"), ("the LR image itself", "image")]


class FitDegradationWidget(Container):
    """Fit the degradation model to an (HR, LR) pair of layers, preview and save it."""

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        self.viewer = napari_viewer
        layers = lambda _w: image_layer_choices(napari_viewer)  # noqa: E731
        self.hr_layer = ComboBox(label="HR image", choices=layers, nullable=True, name="hr")
        self.lr_layer = ComboBox(label="LR image", choices=layers, nullable=True, name="lr")
        self.scale = SpinBox(
            value=DegradationParams().scale,
            min=MIN_SCALE,
            max=MAX_SCALE,
            label="scale",
            name="scale",
        )
        self.ratio = LineEdit(value="", label="HR px per LR px", name="ratio")
        self.channel = ComboBox(label="channel", choices=RGB_CHANNELS, name="channel")
        self._fit_options()
        self.controls = JobControls("Fit")
        table_box, files = self._result_controls()
        self.state = FitState(napari_viewer)
        self.preview = PreviewControls(self.state)
        super().__init__(
            widgets=[
                self.hr_layer,
                self.lr_layer,
                self.scale,
                self.ratio,
                self.channel,
                self.anisotropic,
                self.poisson,
                self.noise_from,
                self.controls,
                table_box,
                files,
                self.preview,
            ],
            scrollable=True,
        )
        fit_to_dock(self.native)
        self._tooltips()
        self._preview_runner = JobRunner(activity=False, announce=False)
        self._preview_runner.bind_lifetime(self.native)
        self._preview_pending = False
        self._resampled = ResampledHR()  # the HR plane on the integer grid, for the preview
        from qtpy.QtCore import QTimer

        self._timer = QTimer(self.native)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.update_preview)
        self._connect()
        setup_table(self.table)
        self.native.setMinimumWidth(360)
        fit_rows(self.table)
        self.reset_choices()

    def _fit_options(self) -> None:
        """The *anisotropic* and *Poisson* boxes and the *noise from* choice."""
        self.anisotropic = CheckBox(value=False, text="Anisotropic PSF (sigma_y, sigma_x)")
        self.poisson = CheckBox(value=False, text="Poisson-Gaussian noise")
        self.noise_from = ComboBox(label="noise from", choices=NOISE_CHOICES, name="noise_from")
        self.noise_from.tooltip = (
            "The residual's variance (default: on real pairs, training on it does best, also "
            "where the residual is mostly structure the model does not explain), or the LR "
            "capture's own noise, estimated from the image alone (the camera's physical noise)"
        )

    def _result_controls(self) -> tuple[Container, Container]:
        """The parameter table with the fit's verdict under it, and the row of buttons that
        save, load or train on the result."""
        self.table = Table(value=params_rows(None), name="parameters")
        self.table.read_only = True
        self.verdict = WrappingLabel(
            value="<i>no fit yet: press Fit, or Load JSON</i>", name="verdict"
        )
        self.save_button = PushButton(text="Save JSON...")
        self.load_button = PushButton(text="Load JSON...")
        self.train_button = PushButton(text="Train on this pair", name="train_on_pair")
        buttons = [self.save_button, self.load_button, self.train_button]
        table_box = Container(widgets=[self.table, self.verdict], labels=False)
        return table_box, Container(widgets=buttons, layout="horizontal")

    def _tooltips(self) -> None:
        self.hr_layer.tooltip = "High-resolution image of the field (e.g. the x60 capture)"
        self.lr_layer.tooltip = "Real low-resolution capture of the same field"
        self.channel.tooltip = (
            "RGB layers: fit on the luminance or on one channel. Z-stacks, time-lapses and "
            "channel stacks: the plane shown by the dims sliders is fitted."
        )
        self.ratio.tooltip = (
            "Empty: the pair is exactly 'scale' apart. A number (e.g. 7.31, filled in from "
            "the layers' pixel sizes) or 'auto' (estimated by registration): the HR image is "
            "resampled to exactly 'scale' times the LR grid before the fit"
        )
        self.train_button.tooltip = (
            "Open the Train widget with the HR layer ticked and these parameters as its "
            "degradation: the model learns this microscope's degradation"
        )

    def _connect(self) -> None:
        """What each control and the viewer's layer list set off."""
        self.controls.run_button.changed.connect(self.fit)
        self.save_button.changed.connect(lambda *_: self.save_params())
        self.load_button.changed.connect(lambda *_: self.load_params())
        self.train_button.changed.connect(lambda *_: self.train_on_pair())
        self.hr_layer.changed.connect(self._layers_changed)
        self.lr_layer.changed.connect(self._layers_changed)
        self.scale.changed.connect(lambda *_: self.state.edited.emit())
        self.ratio.changed.connect(lambda *_: self.state.edited.emit())
        self.state.edited.connect(self._schedule_preview)
        events = self.viewer.layers.events
        for ev in (events.inserted, events.removed, events.reordered):
            ev.connect(self.reset_choices)
        self.viewer.dims.events.current_step.connect(self._schedule_preview)

    @property
    def native(self):
        """The scroll area around the controls: what napari docks, so the widget fits a
        laptop screen and scrolls (magicgui's own ``native`` is the inner widget)."""
        return self.root_native_widget

    # ------------------------------------------------------------------ state
    def reset_choices(self, *_) -> None:
        """Refresh the layer lists and pick a sensible pair when the current one is not."""
        super().reset_choices()
        hr, lr = pick_pair(self.hr_layer, self.lr_layer)
        for combo, layer in ((self.hr_layer, hr), (self.lr_layer, lr)):
            if layer is not None and getattr(combo.value, "name", None) != layer.name:
                combo.value = layer

    def _layers_changed(self, *_) -> None:
        hr, lr = self.hr_layer.value, self.lr_layer.value
        pair = (getattr(hr, "name", None), getattr(lr, "name", None))
        if self.state.result_pair is not None and pair != self.state.result_pair:
            # another pair (a newly opened sample, say): the old fit does not describe it
            self.state.forget(DegradationParams(scale=int(self.scale.value)))
        hint = ratio_hint(hr, lr)
        with self.ratio.changed.blocked():
            self.ratio.value = hint
        guess = guess_scale(hr, lr)
        if hint not in ("", "auto"):
            guess = max(MIN_SCALE, min(MAX_SCALE, round(float(hint))))
        if guess is not None:
            self.scale.value = guess
        lr = self.lr_layer.value
        if lr is not None:
            lo, hi = (float(v) for v in lr.contrast_limits)
            self.state.noise_range.emit(0.2 * (hi - lo))
        self._schedule_preview()

    def current_params(self) -> DegradationParams:
        """The parameters shown (fitted or loaded, with the preview edits applied)."""
        return self.preview.params(int(self.scale.value))

    def _show_params(self, params: DegradationParams | None) -> None:
        """Fill the table; before any fit, load or edit it shows dashes, not the defaults."""
        self.table.value = params_rows(params)
        fit_rows(self.table)
        fitted = params is not None and params.source == "fit"
        if params is None:
            self.verdict.value = "<i>no fit yet: press Fit, or Load JSON</i>"
        else:
            self.verdict.value = verdict_html(params.notes.get("quality")) if fitted else ""

    def _planes(self) -> tuple[LayerPlane, LayerPlane]:
        hr, lr = self.hr_layer.value, self.lr_layer.value
        if hr is None or lr is None:
            raise InputError("choose an HR image layer and an LR image layer")
        if hr.name == lr.name:
            raise InputError(f"HR and LR are the same layer ({hr.name!r}): choose two layers")
        point = self.viewer.dims.point
        ch = self.channel.value
        return layer_plane(hr, point, ch), layer_plane(lr, point, ch)

    # ------------------------------------------------------------------ fit
    def fit(self, *_):
        """Start fitting the chosen layers (the *Fit* button); returns the worker or None."""
        try:
            hr, lr = self._planes()
            ratio = parse_ratio(self.ratio.value)
        except InputError as err:
            self.controls.runner.refuse(f"Fit: {err}")
            return None
        except Exception as err:  # noqa: BLE001 - a layer the planes cannot be read from
            self.controls.runner.refuse(error_message("Fit", err))
            return None
        return self.controls.runner.start(
            fit_job,
            hr.data,
            lr.data,
            int(self.scale.value),
            ratio=ratio,
            anisotropic=self.anisotropic.value,
            poisson=self.poisson.value,
            noise=self.noise_from.value,
            expected_scale=pixel_size_ratio(self.hr_layer.value, self.lr_layer.value),
            on_done=lambda out: self._show_fit(out, hr, lr),
            description="Fit",
        )

    def _show_fit(self, out, hr: LayerPlane, lr: LayerPlane) -> None:
        params, simulated, residual = out
        if "hr_resampled" in params.notes and parse_ratio(self.ratio.value) == "auto":
            with self.ratio.changed.blocked():  # show the estimate; the user may edit it
                self.ratio.value = f"{params.notes['hr_resampled']['ratio']:.4g}"
        notes = dict(params.notes, hr_layer=hr.name, lr_layer=lr.name, plane=list(lr.index))
        params = params.model_copy(update={"notes": notes})
        meta = {"napari_sisr": params.summary()}
        limits = tuple(self.viewer.layers[lr.name].contrast_limits)
        new = RESIDUAL not in self.viewer.layers
        # The simulated LR lies exactly over the LR, hidden: toggling its eye blinks the two.
        first = {"visible": False} if SIMULATED not in self.viewer.layers else {}
        add_aligned_image(
            self.viewer, simulated, SIMULATED, lr, contrast_limits=limits, metadata=meta, **first
        )
        # The residual lies below the LR, not over it (it would hide the image it explains).
        r = 3 * max(float(params.residual_std or 0.0), 1e-12)
        add_aligned_image(
            self.viewer,
            residual,
            RESIDUAL,
            lr,
            offset_px=(lr.shape[0] + 4, 0),
            colormap="PiYG",
            contrast_limits=(-r, r),
            metadata=meta,
        )
        if new:
            self.viewer.reset_view()
        self.state.show(params, pair=(hr.name, lr.name))
        self._show_params(params)

    # ------------------------------------------------------------------ JSON
    def save_params(self, path: str | Path | None = None) -> Path | None:
        """Save the shown parameters as JSON (asks for a file when ``path`` is None)."""
        try:
            params = self.current_params()
        except InputError as err:
            notify_error(f"cannot save: {err}")
            return None
        quality = params.notes.get("quality") or {}
        if params.source == "fit" and quality.get("verdict") == "failed":
            reasons = "\n".join(f"- {r}" for r in quality.get("reasons", []))
            if not self.confirm(f"This fit failed its checks:\n{reasons}\n\nSave it anyway?"):
                return None
        return save_params_as(
            self.native,
            params,
            path,
            title="Save degradation parameters",
            default="degradation.json",
            what="degradation parameters",
        )

    def confirm(self, question: str) -> bool:
        """Ask the user a yes/no question (a dialog; tests replace it)."""
        from qtpy.QtWidgets import QMessageBox

        answer = QMessageBox.question(self.native, "Fit degradation", question)
        return answer == QMessageBox.Yes

    def load_params(self, path: str | Path | None = None) -> DegradationParams | None:
        """Load parameters from JSON (asks for a file when ``path`` is None) and show them."""
        if path is None:
            from qtpy.QtWidgets import QFileDialog

            path, _ = QFileDialog.getOpenFileName(
                self.native, "Load degradation parameters", "", "JSON (*.json)"
            )
            if not path:
                return None
        try:
            params = DegradationParams.load(path)
        except Exception as err:  # noqa: BLE001 - any failure is a notification
            notify_error(error_message(f"loading {path}", err))
            return None
        with self.scale.changed.blocked():
            self.scale.value = params.scale
        self.state.show(params)
        self._show_params(params)
        return params

    def train_on_pair(self):
        """Open the Train widget with the HR layer and the shown parameters filled in.

        Returns the Train widget, or ``None`` (with a notification) when there is no HR layer
        or no valid parameters.
        """
        hr = self.hr_layer.value
        if hr is None:
            notify_error("Train on this pair: choose the HR image layer first")
            return None
        try:
            params = self.current_params()
        except InputError as err:
            notify_error(f"Train on this pair: {err}")
            return None
        dock, train = self.viewer.window.add_plugin_dock_widget("napari-sisr", "Train")
        lr = self.lr_layer.value
        train.form.use_pair(hr.name, params, lr.name if lr is not None else None)
        dock.raise_()  # docked as a tab behind this one: show it
        return train

    # ------------------------------------------------------------------ preview
    def _schedule_preview(self, *_) -> None:
        try:
            params = self.current_params()
            shown = params if self.state.has_result or self.preview.edited() else None
            self._show_params(shown)
        except InputError:
            pass  # a half-typed number; the preview waits for a valid one
        if self.preview.enabled_box.value:
            self._timer.start()

    def update_preview(self) -> None:
        """Simulate the LR window from the preview controls (in a worker thread)."""
        if not self.preview.enabled_box.value:
            return
        if self._preview_runner.busy:
            self._preview_pending = True
            return
        try:
            params = self.current_params()
            hr, lr = self._planes()
            ratio = parse_ratio(self.ratio.value)
        except InputError as err:
            self.controls.status.value = f"Preview: {err}"
            return
        if ratio == "auto":  # until a fit estimates it: the ratio of the image sizes
            ratio = float(np.sqrt(np.prod(hr.shape) / max(np.prod(lr.shape), 1)))
        resampled, data = self._resampled, hr.data
        visible = np.asarray(self.viewer.layers[lr.name].corner_pixels)[:, -2:]
        rows, cols = preview_window(lr.shape, visible, params.scale)
        offset = (rows[0], cols[0] + (lr.shape[1] + 4 if self.preview.beside.value else 0))
        limits = tuple(self.viewer.layers[lr.name].contrast_limits)

        def show(data):
            new = PREVIEW not in self.viewer.layers
            add_aligned_image(
                self.viewer, data, PREVIEW, lr, offset_px=offset, contrast_limits=limits
            )
            if new and self.preview.beside.value:
                frame_beside(viewer_camera(self.viewer), lr, rows, cols, offset)

        self._preview_runner.start(
            preview_job,
            lambda: resampled.get(data, ratio, params.scale),
            params,
            rows,
            cols,
            on_done=show,
            on_finished=self._preview_finished,
            description="Preview",
        )

    def _preview_finished(self, state: str) -> None:
        if state == "failed":
            with self.preview.enabled_box.changed.blocked():
                self.preview.enabled_box.value = False
        if self._preview_pending:
            self._preview_pending = False
            self._schedule_preview()
