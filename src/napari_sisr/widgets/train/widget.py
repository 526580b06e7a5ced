"""The "Train" widget: train a super-resolution network on HR layers, with live curves.

The widget collects inputs (:class:`~.form.TrainForm`, whose sections talk through a
:class:`~.state.TrainState`), builds and validates a
:class:`~napari_sisr.core.training.config.TrainConfig` when Start or Resume is pressed, and runs
:func:`napari_sisr.iter_train` in a worker thread. Updates arrive on the GUI thread through the
worker's ``yielded`` signal: losses and validation PSNR/SSIM (with the bicubic baseline) go to
small QPainter plots, the validation preview to a napari layer. Stop asks the training loop to
finish the current step; the core then keeps its last checkpoint and exports the model it has.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from magicgui.widgets import Container, ProgressBar, PushButton
from qtpy.QtCore import QEvent, QObject

from ...core.errors import InputError
from ...core.progress import Progress, TrainProgress
from ...core.training.loop import WORSE_THAN_BICUBIC
from .._jobs import JobRunner, error_message, notify_error, notify_info, notify_warning
from .._models import default_registry, register_model
from .._plot import LinePlot
from .._text import WrappingLabel, fit_to_dock
from .export import BmzExportButton
from .fields import row
from .form import PREVIEW_LAYER, TrainForm
from .job import build_config, run_history
from .state import TrainState

if TYPE_CHECKING:
    import napari

    from ...core.training import TrainResult


#: What the loss plot's legend calls each loss term of the training loop.
LOSS_LABELS = {
    "l_g_total": "total",
    "l_g_pix": "pixel difference",
    "l_g_ssim": "SSIM",
    "l_g_dpf": "diffraction pattern",
    "l_g_percep": "perceptual",
    "l_g_gan": "adversarial",
    "l_d": "discriminator",
}


class TrainWidget(Container):
    """Dock widget that trains a model from image layers and registers the result.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer whose image layers are offered as training data.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        self.viewer = napari_viewer
        self.state = TrainState(napari_viewer)
        self.last_result: TrainResult | None = None
        #: Extra TrainConfig fields laid over the form at Start (for scripts and tests).
        self.config_overrides: dict[str, Any] = {}
        self.runner = JobRunner(graceful=True)
        self._stopping = False
        self._preview_scale: tuple[float, float] = (1.0, 1.0)
        self._history_from = None  # run folder whose logged curves are drawn on resume

        self.form = TrainForm(self.state)
        self.start_btn = PushButton(text="Start")
        self.stop_btn = PushButton(text="Stop", enabled=False)
        self.resume_btn = PushButton(text="Resume")
        self.resume_btn.tooltip = "Continue from the newest checkpoint in the run folder"
        self.stop_btn.tooltip = "Stop after this step; the model is saved and can be resumed"
        self.export_btn = BmzExportButton()  # enabled once a run has saved its model
        self.progress = ProgressBar(value=0, max=1)
        self.progress.native.setFormat("%v / %m steps")
        self.status = WrappingLabel(value="ready")
        self.curves = self._curves()
        buttons = row(self.start_btn, self.stop_btn, self.resume_btn)
        super().__init__(
            widgets=[self.form, buttons, self.export_btn, self.progress, self.status, self.curves],
            labels=False,
        )
        self.margins = (0, 0, 0, 0)
        self.native.layout().setStretchFactor(self.form.native, 1)
        self.native.setMinimumWidth(340)
        fit_to_dock(self.native)  # no horizontal scroll bar: rows must fit the dock
        self._connect()

    def _curves(self) -> Container:
        """The training curves: shown below the run controls once a run starts (until then
        the settings have the room: a laptop screen shows them whole)."""
        self.loss_plot = LinePlot("losses by step", log_y=True, smooth=True, labels=LOSS_LABELS)
        self.psnr_plot = LinePlot("held-out PSNR (dB) by step")
        self.ssim_plot = LinePlot("held-out SSIM by step")
        for plot in (self.psnr_plot, self.ssim_plot):
            plot.add_series("model", "#4fc3f7")
            plot.add_series("bicubic", "#bdbdbd", dashed=True)
        curves = Container(labels=False, visible=False)
        curves.margins = (0, 0, 0, 0)
        for plot, stretch in ((self.loss_plot, 3), (self.psnr_plot, 2), (self.ssim_plot, 2)):
            curves.native.layout().addWidget(plot, stretch)  # drawn with QPainter
        return curves

    def _connect(self) -> None:
        """What the buttons, the viewer's layer list and the model list set off; and what
        closing the dock does."""
        self.start_btn.changed.connect(lambda *_: self.start(resume=False))
        self.resume_btn.changed.connect(lambda *_: self.start(resume=True))
        self.stop_btn.changed.connect(lambda *_: self.stop())
        events = self.viewer.layers.events
        for name in ("inserted", "removed", "renamed"):
            getattr(events, name).connect(self.reset_choices)
        default_registry().connect(self.form.model.refresh_models)
        self.state.running_changed.connect(self._set_running)
        self.runner.bind_lifetime(self.native)
        self._closing = _StopOnClose(self)
        self.native.installEventFilter(self._closing)
        self.native.destroyed.connect(_forget_listeners(self.viewer.layers, self))

    def reset_choices(self, *_) -> None:
        """A layer came, went or was renamed: the sections re-list the captures, keeping the
        layers chosen (magicgui's own reset would drop a renamed one). napari calls it too,
        for every docked widget; a second call finds nothing to change."""
        self.state.layers_changed.emit()
        self.form.model.refresh_models()

    def _show_curves(self) -> None:
        """Show the training curves below the run controls, the settings keeping 2/5."""
        if not self.curves.native.isHidden():
            return
        self.curves.visible = True
        layout = self.native.layout()
        layout.setStretchFactor(self.form.native, 2)
        layout.setStretchFactor(self.curves.native, 3)

    @property
    def running(self) -> bool:
        """Whether a training run is in progress."""
        return self.runner.busy

    @property
    def worker(self):
        """The worker of the current run (``None`` when idle)."""
        return self.runner.worker

    # ------------------------------------------------------------------ running
    def start(self, resume: bool = False):
        """Build the configuration from the form and start training (or resume).

        Returns the worker, or ``None`` when the inputs are invalid (a notification says why)
        or a run is already in progress.
        """
        from ...core.training import iter_train

        if self.running:
            return None
        try:
            config = build_config(
                self.viewer,
                self.state.values(),
                loaded=self.state.loaded_params,
                resume=resume,
                overrides=self.config_overrides,
            )
        except Exception as err:  # noqa: BLE001 - every failure becomes a notification
            # an input error names the field or layer; anything else is logged as a bug
            text = str(err) if isinstance(err, InputError) else error_message("Training", err)
            notify_error(text)
            self.status.value = f"not started: {text}"
            return None
        self.form.training.run_dir.value = config.out
        first = self.viewer.layers[config.hr[0].name]
        self._preview_scale = tuple(float(v) for v in first.scale[-2:])  # HR pixel size
        self._reset_plots()
        self._history_from = config.out if resume else None
        self._stopping = False
        worker = self.runner.start(
            iter_train,
            config,
            on_done=self._on_done,
            on_update=self._on_update,
            on_finished=self._on_finished,
            description="Training",
        )
        self.state.set_running(True)
        self._show_curves()
        self.status.value = ("resuming" if resume else "starting") + f" in {config.out}"
        return worker

    def stop(self) -> None:
        """Ask the training loop to stop after the current step (it then saves and exports)."""
        if not self.running:
            return
        self._stopping = True
        self.runner.cancel()
        self.stop_btn.enabled = False
        self.status.value = "stopping after the current step…"

    def _set_running(self, running: bool) -> None:
        if running:  # the run replaces the model the button would export
            self.export_btn.set_model(None)
        self.start_btn.enabled = not running
        self.resume_btn.enabled = not running
        self.stop_btn.enabled = running

    def _reset_plots(self) -> None:
        for plot in (self.loss_plot, self.psnr_plot, self.ssim_plot):
            plot.clear()
        self.progress.max = 1
        self.progress.value = 0

    # ------------------------------------------------------------------ job callbacks (GUI thread)
    def _on_update(self, update: Progress) -> None:
        if update.total:
            self.progress.max = int(update.total)
            self.progress.value = int(update.done)
        if not isinstance(update, TrainProgress):  # a setup phase (loading images, networks)
            self.status.value = update.message
            return
        if self._history_from is not None:  # resumed: draw the curves up to the checkpoint
            self._plot_history(update.step)
        val = update.val.as_dict() if update.val is not None else {}
        self._plot(update.step, update.losses, val)
        if update.preview is not None:
            self._show_preview(update.preview)
        if self.running and not self._stopping:  # (the final status is set by _on_done)
            self.status.value = _status_text(update)

    def _plot(self, step: int, losses: dict, val: dict) -> None:
        for name, value in losses.items():
            if name.startswith("l_"):  # loss terms (not discriminator outputs, rates, ...)
                self.loss_plot.append(name, step, value)
        for plot, key in ((self.psnr_plot, "psnr"), (self.ssim_plot, "ssim")):
            if key in val:
                plot.append("model", step, val[key])
            if f"{key}_bicubic" in val:
                plot.append("bicubic", step, val[f"{key}_bicubic"])

    def _plot_history(self, step: int) -> None:
        losses, vals = run_history(self._history_from, step)
        self._history_from = None
        for rec in losses:
            self._plot(rec["step"], rec, {})
        for rec in vals:
            self._plot(rec["step"], {}, rec)

    def _show_preview(self, image) -> None:
        if PREVIEW_LAYER in self.viewer.layers:
            layer = self.viewer.layers[PREVIEW_LAYER]
            layer.data = image
            layer.scale = self._preview_scale
            return
        # beside the images, not over them: it shows a crop of a validation image
        extent = self.viewer.layers.extent.world
        right = float(extent[1][-1]) if len(extent[1]) else 0.0
        top = float(extent[0][-2]) if len(extent[0]) >= 2 else 0.0
        gap = 0.05 * max(right, 1.0)
        self.viewer.add_image(
            image,
            name=PREVIEW_LAYER,
            contrast_limits=(0.0, 1.0),  # the core's normalised units
            scale=self._preview_scale,
            translate=(top, right + gap),
        )

    def _on_done(self, result: TrainResult) -> None:
        self.last_result = result
        final = result.metrics or {}
        plotted = self.psnr_plot.series["model"].xs
        if "step" in final and (not plotted or plotted[-1] != final["step"]):
            self._plot(final["step"], {}, final)  # the validation made on Stop or at the end
        if result.stopped:
            verb = f"stopped at step {result.steps}"
        elif result.stopped_early:
            verb = f"stopped early at step {result.steps} (no better validation PSNR)"
        else:
            verb = f"finished {result.steps} steps"
        best = result.best_metrics or {}
        score = ""
        if "psnr" in best and "psnr_bicubic" in best:
            score = (
                f" (validation PSNR {best['psnr']:.2f} dB, bicubic {best['psnr_bicubic']:.2f} dB)"
            )
        try:
            register_model(result.model)
        except (InputError, OSError) as err:
            notify_error(f"model saved to {result.model} but could not be listed: {err}")
            return
        self.status.value = f"{verb}{score}; model saved: {result.model}"
        self.export_btn.set_model(result.model)
        if result.worse_than_bicubic:
            notify_warning(
                f"Training {verb}{score}: the model is {WORSE_THAN_BICUBIC}. It is saved to "
                f"{result.model} and listed in Super-resolve all the same"
            )
        else:
            notify_info(
                f"Training {verb}{score}; model saved to {result.model} and offered in "
                "Super-resolve"
            )

    def _on_finished(self, state: str) -> None:
        self.state.set_running(False)
        if state == "failed":
            self.status.value = "training failed (see the notification); checkpoints are kept"
        elif state == "cancelled":
            self.status.value = "stopped"


class _StopOnClose(QObject):
    """Stop training when the dock closes: napari closes a dock by re-parenting its widget
    to None, or the widget is closed."""

    def __init__(self, widget: TrainWidget) -> None:
        super().__init__(widget.native)
        self._widget = weakref.ref(widget)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt's name)
        ref = getattr(self, "_widget", None)  # gone while Python collects the filter
        widget = ref() if ref is not None else None
        if widget is None:
            return False
        orphaned = event.type() == QEvent.Type.ParentChange and obj.parent() is None
        if (orphaned or event.type() == QEvent.Type.Close) and widget.running:
            widget.stop()
        return False


def _forget_listeners(layers, widget: TrainWidget):
    """Disconnect the widget from layer and registry events (it is gone)."""

    def forget(*_):
        for name in ("inserted", "removed", "renamed"):
            getattr(layers.events, name).disconnect(widget.reset_choices)
        default_registry().disconnect(widget.form.model.refresh_models)

    return forget


def _status_text(update: TrainProgress) -> str:
    parts = [update.message or f"step {update.done}/{update.total}"]
    losses = [(k, v) for k, v in update.losses.items() if k in LOSS_LABELS][:3]
    parts += [f"{LOSS_LABELS[k]} loss {v:.3g}" for k, v in losses]
    if update.eta_s is not None:
        parts.append(
            f"ETA {update.eta_s / 60:.1f} min" if update.eta_s > 90 else f"ETA {update.eta_s:.0f} s"
        )
    return " · ".join(parts)
