"""The "Train" widget: train a super-resolution network on HR layers, with live curves.

The widget collects inputs (:class:`~._train_form.TrainForm`), builds and validates a
:class:`~napari_sisr.core.train_config.TrainConfig` when Start or Resume is pressed, and runs
:func:`napari_sisr.iter_train` in a worker thread. Updates arrive on the GUI thread through the
worker's ``yielded`` signal: losses and validation PSNR/SSIM (with the bicubic baseline) go to
small QPainter plots, the validation preview to a napari layer. Stop asks the training loop to
finish the current step; the core then keeps its last checkpoint and exports the model it has.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QEvent
from qtpy.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ._plot import LinePlot
from ._train_form import TrainForm

if TYPE_CHECKING:
    import napari

PREVIEW_LAYER = "SR preview (training)"


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
        self.worker = None
        self._stop = threading.Event()
        self.last_result: Any = None
        #: Extra TrainConfig fields laid over the form at Start (for scripts and tests).
        self.config_overrides: dict[str, Any] = {}

        self.form = TrainForm(napari_viewer)
        self.start_btn = QPushButton("Start")
        self.stop_btn = QPushButton("Stop")
        self.resume_btn = QPushButton("Resume")
        self.resume_btn.setToolTip("Continue from the checkpoint in the run folder")
        self.stop_btn.setEnabled(False)
        self.start_btn.clicked.connect(lambda: self.start(resume=False))
        self.resume_btn.clicked.connect(lambda: self.start(resume=True))
        self.stop_btn.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m steps")
        self.status = QLabel("ready")
        self.status.setWordWrap(True)
        self.loss_plot = LinePlot("losses", log_y=True)
        self.psnr_plot = LinePlot("validation PSNR (dB)")
        self.ssim_plot = LinePlot("validation SSIM")
        for plot in (self.psnr_plot, self.ssim_plot):
            plot.add_series("model", "#4fc3f7")
            plot.add_series("bicubic", "#bdbdbd", dashed=True)

        inner = QWidget()
        lay = QVBoxLayout(inner)
        lay.addWidget(self.form)
        buttons = QHBoxLayout()
        for b in (self.start_btn, self.stop_btn, self.resume_btn):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        for plot in (self.loss_plot, self.psnr_plot, self.ssim_plot):
            lay.addWidget(plot)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.setMinimumWidth(360)

        events = self.viewer.layers.events
        for name in ("inserted", "removed"):
            getattr(events, name).connect(self.form.refresh_layers)
        # stop the worker however the widget goes away (dock closed, viewer closed)
        self._worker_holder: list = [None]
        holder = self._worker_holder
        self.destroyed.connect(lambda *_: _abort(holder))

    @property
    def running(self) -> bool:
        """Whether a training run is in progress."""
        return self.worker is not None

    # ------------------------------------------------------------------ running
    def start(self, resume: bool = False) -> None:
        """Build the configuration from the form and start training (or resume)."""
        from ._train_job import JobError, build_config

        if self.worker is not None:
            return
        try:
            config = build_config(
                self.viewer,
                self.form.values(),
                loaded=self.form.loaded_params,
                resume=resume,
                overrides=self.config_overrides,
            )
        except JobError as err:
            _notify_error(str(err))
            return
        self.form.run_dir.setText(str(config.out))
        self._reset_plots()
        self._stop = threading.Event()
        from napari.qt.threading import create_worker

        from .. import iter_train

        worker = create_worker(iter_train, config, stop=self._stop)
        worker.yielded.connect(self._on_yielded)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self._worker_holder[0] = (worker, self._stop)
        self._set_running(True)
        self.status.setText(("resuming" if resume else "starting") + f" in {config.out}")
        worker.start()

    def stop(self) -> None:
        """Ask the training loop to stop after the current step."""
        if self.worker is None:
            return
        self._stop.set()
        self.stop_btn.setEnabled(False)
        self.status.setText("stopping after the current step…")

    def _set_running(self, running: bool) -> None:
        self.start_btn.setEnabled(not running)
        self.resume_btn.setEnabled(not running)
        self.stop_btn.setEnabled(running)
        self.form.setEnabled(not running)

    def _reset_plots(self) -> None:
        for plot in (self.loss_plot, self.psnr_plot, self.ssim_plot):
            plot.clear()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)

    # ------------------------------------------------------------------ worker signals
    def _on_yielded(self, update) -> None:
        data = update.data or {}
        step = data.get("step", update.done)
        if update.total:
            self.progress.setRange(0, int(update.total))
            self.progress.setValue(int(update.done))
        for name, value in (data.get("losses") or {}).items():
            self.loss_plot.append(name, step, value)
        val = data.get("val") or {}
        for plot, key in ((self.psnr_plot, "psnr"), (self.ssim_plot, "ssim")):
            if key in val:
                plot.append("model", step, val[key])
            if f"{key}_bicubic" in val:
                plot.append("bicubic", step, val[f"{key}_bicubic"])
        if data.get("preview") is not None:
            self._show_preview(data["preview"])
        self.status.setText(_status_text(update))

    def _show_preview(self, image) -> None:
        if PREVIEW_LAYER in self.viewer.layers:
            layer = self.viewer.layers[PREVIEW_LAYER]
            layer.data = image
        else:
            self.viewer.add_image(image, name=PREVIEW_LAYER)

    def _on_returned(self, result) -> None:
        from ._models import register_model

        self.last_result = result
        verb = f"stopped at step {result.steps}" if result.stopped else f"finished {result.steps} steps"
        best = result.best_metrics or {}
        score = ""
        if "psnr" in best and "psnr_bicubic" in best:
            score = f" (validation PSNR {best['psnr']:.2f} dB, bicubic {best['psnr_bicubic']:.2f} dB)"
        try:
            register_model(result.model)
        except (OSError, ValueError) as err:
            _notify_error(f"model saved to {result.model} but could not be listed: {err}")
            return
        self.status.setText(f"{verb}{score}; model saved: {result.model}")
        _notify_info(f"Training {verb}; model saved to {result.model} and offered in Super-resolve")

    def _on_errored(self, err: Exception) -> None:
        from ..core.progress import Cancelled

        if isinstance(err, Cancelled):
            self.status.setText("stopped")
            return
        self.status.setText(f"failed: {err}")
        _notify_error(f"Training failed: {err}")

    def _on_finished(self) -> None:
        self.worker = None
        self._worker_holder[0] = None
        self._set_running(False)

    # ------------------------------------------------------------------ lifetime
    def event(self, ev) -> bool:
        # napari closes a dock by re-parenting its widget to None: stop training then
        if ev.type() == QEvent.ParentChange and self.parent() is None and self.worker is not None:
            self.stop()
        return super().event(ev)

    def closeEvent(self, ev) -> None:  # noqa: N802 (Qt API)
        self.stop()
        super().closeEvent(ev)


def _abort(holder: list) -> None:
    if holder[0] is not None:
        holder[0][1].set()
        holder[0][0].quit()


def _status_text(update) -> str:
    data = update.data or {}
    parts = [update.message or f"step {update.done}/{update.total}"]
    losses = data.get("losses") or {}
    parts += [f"{k} {v:.3g}" for k, v in list(losses.items())[:3]]
    if update.eta_s is not None:
        parts.append(f"ETA {update.eta_s / 60:.1f} min" if update.eta_s > 90 else f"ETA {update.eta_s:.0f} s")
    return " · ".join(parts)


def _notify_error(message: str) -> None:
    from napari.utils.notifications import show_error

    show_error(message)


def _notify_info(message: str) -> None:
    from napari.utils.notifications import show_info

    show_info(message)
