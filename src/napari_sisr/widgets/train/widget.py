"""The "Train" widget: train a super-resolution network on HR layers, with live curves.

The widget collects inputs (:class:`~.form.TrainForm`), builds and validates a
:class:`~napari_sisr.core.training.config.TrainConfig` when Start or Resume is pressed, and runs
:func:`napari_sisr.iter_train` in a worker thread. Updates arrive on the GUI thread through the
worker's ``yielded`` signal: losses and validation PSNR/SSIM (with the bicubic baseline) go to
small QPainter plots, the validation preview to a napari layer. Stop asks the training loop to
finish the current step; the core then keeps its last checkpoint and exports the model it has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QEvent, Qt
from qtpy.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import InputError
from ...core.progress import Progress, TrainProgress
from ...core.training.loop import WORSE_THAN_BICUBIC
from .._jobs import JobRunner, notify_error, notify_info, notify_warning
from .._models import default_registry, register_model
from .._plot import LinePlot
from .._text import fit_to_dock
from .export import BmzExportButton
from .form import PREVIEW_LAYER, TrainForm
from .job import JobError, build_config, run_history

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


class TrainWidget(QWidget):
    """Dock widget that trains a model from image layers and registers the result.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer whose image layers are offered as training data.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.last_result: TrainResult | None = None
        #: Extra TrainConfig fields laid over the form at Start (for scripts and tests).
        self.config_overrides: dict[str, Any] = {}
        self.runner = JobRunner(graceful=True)
        self._stopping = False
        self._preview_scale: tuple[float, float] = (1.0, 1.0)
        self._history_from = None  # run folder whose logged curves are drawn on resume

        self.form = TrainForm(napari_viewer)
        self.start_btn = QPushButton("Start")
        self.stop_btn = QPushButton("Stop")
        self.resume_btn = QPushButton("Resume")
        self.resume_btn.setToolTip("Continue from the newest checkpoint in the run folder")
        self.stop_btn.setToolTip("Stop after this step; the model is saved and can be resumed")
        self.stop_btn.setEnabled(False)
        self.export_btn = BmzExportButton()  # enabled once a run has saved its model
        self.start_btn.clicked.connect(lambda: self.start(resume=False))
        self.resume_btn.clicked.connect(lambda: self.start(resume=True))
        self.stop_btn.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m steps")
        self.status = QLabel("ready")
        self.status.setWordWrap(True)
        self.loss_plot = LinePlot("losses by step", log_y=True, smooth=True, labels=LOSS_LABELS)
        self.psnr_plot = LinePlot("held-out PSNR (dB) by step")
        self.ssim_plot = LinePlot("held-out SSIM by step")
        for plot in (self.psnr_plot, self.ssim_plot):
            plot.add_series("model", "#4fc3f7")
            plot.add_series("bicubic", "#bdbdbd", dashed=True)

        self._layout()
        events = self.viewer.layers.events
        for name in ("inserted", "removed"):
            getattr(events, name).connect(self.form.refresh_layers)
        default_registry().connect(self.form.refresh_models)
        self.runner.bind_lifetime(self)
        self.destroyed.connect(_forget_listeners(self.viewer.layers, self.form))

    def _layout(self) -> None:
        """Settings scroll above; run controls below, and the training curves once a run
        starts (until then the settings have the room: a laptop screen shows them whole)."""
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(self.form)
        fit_to_dock(self.form)  # no horizontal scroll bar: rows must fit the dock
        panel = QWidget()
        lay = QVBoxLayout(panel)
        lay.setContentsMargins(0, 4, 0, 0)
        buttons = QHBoxLayout()
        for b in (self.start_btn, self.stop_btn, self.resume_btn):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        for widget in (self.export_btn, self.progress, self.status):
            lay.addWidget(widget)
        self.curves = QWidget()
        curves = QVBoxLayout(self.curves)
        curves.setContentsMargins(0, 0, 0, 0)
        for plot, stretch in ((self.loss_plot, 3), (self.psnr_plot, 2), (self.ssim_plot, 2)):
            curves.addWidget(plot, stretch)
        self.curves.setVisible(False)
        lay.addWidget(self.curves, 1)
        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.addWidget(scroll)
        self.splitter.addWidget(panel)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.splitter)
        self.setMinimumWidth(340)

    def _show_curves(self) -> None:
        """Show the training curves below the run controls, the settings keeping 2/5."""
        if self.curves.isVisible():
            return
        self.curves.setVisible(True)
        height = self.splitter.height()
        self.splitter.setSizes([height * 2 // 5, height - height * 2 // 5])

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
                self.form.values(),
                loaded=self.form.loaded_params,
                resume=resume,
                overrides=self.config_overrides,
            )
        except JobError as err:
            notify_error(str(err))
            self.status.setText(f"not started: {err}")
            return None
        self.form.run_dir.setText(str(config.out))
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
        self._set_running(True)
        self._show_curves()
        self.status.setText(("resuming" if resume else "starting") + f" in {config.out}")
        return worker

    def stop(self) -> None:
        """Ask the training loop to stop after the current step (it then saves and exports)."""
        if not self.running:
            return
        self._stopping = True
        self.runner.cancel()
        self.stop_btn.setEnabled(False)
        self.status.setText("stopping after the current step…")

    def _set_running(self, running: bool) -> None:
        if running:  # the run replaces the model the button would export
            self.export_btn.set_model(None)
        self.start_btn.setEnabled(not running)
        self.resume_btn.setEnabled(not running)
        self.stop_btn.setEnabled(running)
        self.form.setEnabled(not running)

    def _reset_plots(self) -> None:
        for plot in (self.loss_plot, self.psnr_plot, self.ssim_plot):
            plot.clear()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)

    # ------------------------------------------------------------------ job callbacks (GUI thread)
    def _on_update(self, update: Progress) -> None:
        if update.total:
            self.progress.setRange(0, int(update.total))
            self.progress.setValue(int(update.done))
        if not isinstance(update, TrainProgress):  # a setup phase (loading images, networks)
            self.status.setText(update.message)
            return
        if self._history_from is not None:  # resumed: draw the curves up to the checkpoint
            self._plot_history(update.step)
        val = update.val.as_dict() if update.val is not None else {}
        self._plot(update.step, update.losses, val)
        if update.preview is not None:
            self._show_preview(update.preview)
        if self.running and not self._stopping:  # (the final status is set by _on_done)
            self.status.setText(_status_text(update))

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
        self.status.setText(f"{verb}{score}; model saved: {result.model}")
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
        self._set_running(False)
        if state == "failed":
            self.status.setText("training failed (see the notification); checkpoints are kept")
        elif state == "cancelled":
            self.status.setText("stopped")

    # ------------------------------------------------------------------ lifetime
    def event(self, ev) -> bool:
        # napari closes a dock by re-parenting its widget to None: stop training then
        if ev.type() == QEvent.ParentChange and self.parent() is None and self.running:
            self.stop()
        return super().event(ev)

    def closeEvent(self, ev) -> None:  # noqa: N802 (Qt API)
        self.stop()
        super().closeEvent(ev)


def _forget_listeners(layers, form):
    """Disconnect the form from layer and registry events (the widget is gone)."""

    def forget(*_):
        for name in ("inserted", "removed"):
            getattr(layers.events, name).disconnect(form.refresh_layers)
        for layer in layers:
            layer.events.name.disconnect(form.refresh_layers)
        default_registry().disconnect(form.refresh_models)

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
