"""The input form of the Train widget: data, degradation, model and training settings.

The form only holds widget state. :meth:`TrainForm.values` returns it as a plain dict; the
training configuration is built (and validated) from that dict when the user presses Start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from .sr_widget import _devices

if TYPE_CHECKING:
    import napari

    from ..core.config import DegradationParams

NO_LR = "(none: simulate LR from HR)"
#: Architecture selected when the widget opens (the reference SRResNet generator).
DEFAULT_ARCH = "srresnet"
#: The layer the Train widget shows its validation preview in (never offered as data).
PREVIEW_LAYER = "SR preview (training)"
SCRATCH = "(random initialisation)"
FROM_FILE = "model file…"


def _spin(lo: int, hi: int, value: int, step: int = 1) -> QSpinBox:
    w = QSpinBox()
    w.setRange(lo, hi)
    w.setSingleStep(step)
    w.setValue(value)
    return w


def _dspin(lo: float, hi: float, value: float, step: float, decimals: int = 3) -> QDoubleSpinBox:
    w = QDoubleSpinBox()
    w.setDecimals(decimals)
    w.setRange(lo, hi)
    w.setSingleStep(step)
    w.setValue(value)
    return w


def _row(*widgets: QWidget) -> QWidget:
    box = QWidget()
    lay = QHBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        lay.addWidget(w)
    return box


class TrainForm(QWidget):
    """All inputs of the Train widget, grouped; no computation happens here."""

    def __init__(self, viewer: napari.viewer.Viewer, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self.loaded_params: DegradationParams | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self._data_group())
        lay.addWidget(self._degradation_group())
        lay.addWidget(self._model_group())
        lay.addWidget(self._training_group())
        self.refresh_layers()
        self._on_arch_changed()

    # ------------------------------------------------------------------ groups
    def _data_group(self) -> QGroupBox:
        g = QGroupBox("Data")
        f = QFormLayout(g)
        self.hr_list = QListWidget()
        self.hr_list.setMaximumHeight(90)
        self.hr_list.setToolTip("High-resolution training images (tick one or more layers)")
        f.addRow("HR layers", self.hr_list)
        self.lr_combo = QComboBox()
        self.lr_combo.setToolTip(
            "Optional real LR capture registered to the (single) ticked HR layer"
        )
        f.addRow("paired LR", self.lr_combo)
        self.val_mode = QComboBox()
        self.val_mode.addItems(["fraction of images", "held-out layer"])
        self.val_fraction = _dspin(0.05, 0.9, 0.2, 0.05, 2)
        self.val_layer = QComboBox()
        self.val_stack = QStackedWidget()
        self.val_stack.addWidget(self.val_fraction)
        self.val_stack.addWidget(self.val_layer)
        self.val_stack.setMaximumHeight(self.val_fraction.sizeHint().height() + 4)
        self.val_mode.currentIndexChanged.connect(self.val_stack.setCurrentIndex)
        f.addRow("validation", _row(self.val_mode, self.val_stack))
        return g

    def _degradation_group(self) -> QGroupBox:
        g = QGroupBox("Degradation")
        f = QFormLayout(g)
        self.deg_mode = QComboBox()
        self.deg_mode.addItems(["fixed", "blind range"])
        self.load_json_btn = QPushButton("Load JSON…")
        self.load_json_btn.setToolTip("Parameters saved by the Fit degradation widget")
        self.load_json_btn.clicked.connect(self._on_load_json)
        f.addRow("mode", _row(self.deg_mode, self.load_json_btn))
        self.deg_source = QLabel("typed in")
        self.deg_source.setWordWrap(True)
        f.addRow("source", self.deg_source)
        self.scale = QComboBox()
        f.addRow("scale", self.scale)

        fixed = QWidget()
        ff = QFormLayout(fixed)
        ff.setContentsMargins(0, 0, 0, 0)
        self.sigma = _dspin(0.0, 64.0, 1.5, 0.1)
        self.noise_std = _dspin(0.0, 1e6, 0.0, 0.01, 4)
        self.gain = _dspin(-1e6, 1e6, 1.0, 0.1, 4)
        ff.addRow("PSF sigma (HR px)", self.sigma)
        ff.addRow("noise std", self.noise_std)
        ff.addRow("gain", self.gain)
        blind = QWidget()
        fb = QFormLayout(blind)
        fb.setContentsMargins(0, 0, 0, 0)
        self.sigma_lo, self.sigma_hi = _dspin(0.0, 64, 0.8, 0.1), _dspin(0.0, 64, 2.5, 0.1)
        self.noise_lo, self.noise_hi = _dspin(0, 1e6, 0.0, 0.01, 4), _dspin(0, 1e6, 0.05, 0.01, 4)
        self.noise_lo.setToolTip("Fraction of the image's intensity range (1st-99.8th pct.)")
        self.noise_hi.setToolTip(self.noise_lo.toolTip())
        fb.addRow("PSF sigma range", _row(self.sigma_lo, self.sigma_hi))
        fb.addRow("noise std range (rel.)", _row(self.noise_lo, self.noise_hi))
        self.soft_lo, self.soft_hi = _dspin(0.0, 64, 0.0, 0.1), _dspin(0.0, 64, 0.0, 0.1)
        self.soft_hi.setToolTip(
            "Also blur some HR patches themselves by up to this much (HR px), so the model "
            "learns that soft specimens exist and does not sharpen every smooth image. 0: off."
        )
        self.soft_lo.setToolTip(self.soft_hi.toolTip())
        fb.addRow("soft specimens (HR px)", _row(self.soft_lo, self.soft_hi))
        self.deg_stack = QStackedWidget()
        self.deg_stack.addWidget(fixed)
        self.deg_stack.addWidget(blind)
        self.deg_mode.currentIndexChanged.connect(self.deg_stack.setCurrentIndex)
        f.addRow(self.deg_stack)
        return g

    def _model_group(self) -> QGroupBox:
        from ..core.archs import ARCHS

        g = QGroupBox("Model")
        f = QFormLayout(g)
        self.arch = QComboBox()
        self.arch.addItems(sorted(ARCHS))
        self.arch.setCurrentText(DEFAULT_ARCH if DEFAULT_ARCH in ARCHS else sorted(ARCHS)[0])
        self.arch.currentTextChanged.connect(self._on_arch_changed)
        self.preset = QComboBox()
        f.addRow("architecture", _row(self.arch, self.preset))
        self.init_model = QComboBox()
        self.init_model.setToolTip(
            "Fine-tune a bundled or trained model instead of starting afresh"
        )
        self.init_path = QLineEdit()
        self.init_path.setPlaceholderText("path to a model .json")
        self.init_path.setVisible(False)
        self.init_path.editingFinished.connect(self._on_init_changed)
        self.init_model.currentIndexChanged.connect(self._on_init_changed)
        f.addRow("start from", self.init_model)
        f.addRow("", self.init_path)
        self.refresh_models()
        return g

    def _training_group(self) -> QGroupBox:
        g = QGroupBox("Training")
        f = QFormLayout(g)
        self.patch = _spin(8, 2048, 96, 8)
        self.patch.setToolTip("HR patch size (pixels); LR patches are patch / scale")
        self.batch = _spin(1, 512, 16)
        f.addRow("patch / batch", _row(self.patch, self.batch))
        self.iterations = _spin(1, 10_000_000, 2000, 100)
        self.lr = QLineEdit()
        self.lr.setPlaceholderText("preset default")
        self.lr.setToolTip("Generator learning rate; empty: the preset's default")
        f.addRow("iterations / lr", _row(self.iterations, self.lr))
        self.val_every = _spin(1, 1_000_000, 200, 50)
        self.preview_every = _spin(1, 1_000_000, 200, 50)
        self.val_every.setToolTip("Steps between validations (PSNR/SSIM on held-out data)")
        self.preview_every.setToolTip("Steps between updates of the preview layer")
        f.addRow("val / preview every", _row(self.val_every, self.preview_every))
        self.device = QComboBox()
        self.device.addItems(_devices())
        self.adversarial = QCheckBox("GAN")
        self.adversarial.setToolTip(
            "Adversarial loss with a discriminator (else content loss only)"
        )
        self.adversarial.setChecked(True)
        f.addRow("device / loss", _row(self.device, self.adversarial))
        self.run_dir = QLineEdit()
        self.run_dir.setPlaceholderText("~/.napari-sisr/runs/<timestamp>")
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.clicked.connect(self._on_browse_run_dir)
        f.addRow("run folder", _row(self.run_dir, browse))
        return g

    # ------------------------------------------------------------------ behaviour
    def refresh_layers(self, event=None) -> None:
        """Re-list image layers, keeping the choices (also across renames) where they exist."""
        from napari.layers import Image

        layers = [
            ly for ly in self.viewer.layers if isinstance(ly, Image) and ly.name != PREVIEW_LAYER
        ]
        for ly in layers:  # napari ignores a second connection of the same callback
            ly.events.name.connect(self.refresh_layers)
        checked = {
            self.hr_list.item(i).data(Qt.UserRole)
            for i in range(self.hr_list.count())
            if self.hr_list.item(i).checkState() == Qt.Checked
        }
        self.hr_list.clear()
        for ly in layers:
            item = QListWidgetItem(ly.name)
            item.setData(Qt.UserRole, id(ly))
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if id(ly) in checked else Qt.Unchecked)
            self.hr_list.addItem(item)
        for combo, first in ((self.lr_combo, NO_LR), (self.val_layer, None)):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            if first:
                combo.addItem(first, None)
            for ly in layers:
                combo.addItem(ly.name, id(ly))
            combo.setCurrentIndex(max(combo.findData(current), 0))
            combo.blockSignals(False)

    def hr_layer_names(self) -> list[str]:
        """Names of the ticked HR layers, in list order."""
        out = []
        for i in range(self.hr_list.count()):
            item = self.hr_list.item(i)
            if item.checkState() == Qt.Checked:
                out.append(item.text())
        return out

    def set_hr_layers(self, names: list[str]) -> None:
        """Tick exactly the given layers (used by scripts and tests)."""
        for i in range(self.hr_list.count()):
            item = self.hr_list.item(i)
            item.setCheckState(Qt.Checked if item.text() in names else Qt.Unchecked)

    def _on_arch_changed(self, *_: Any) -> None:
        from ..core.archs import get_spec

        spec = get_spec(self.arch.currentText())
        keep_preset, keep_scale = self.preset.currentText(), self.scale.currentText()
        self.preset.clear()
        self.preset.addItems(list(spec.presets))
        fallback = "fast" if "fast" in spec.presets else next(iter(spec.presets))
        self.preset.setCurrentText(keep_preset if keep_preset in spec.presets else fallback)
        self.scale.clear()
        scales = [str(s) for s in spec.scales]
        self.scale.addItems(scales)
        default = "4" if "4" in scales else scales[0]
        self.scale.setCurrentText(keep_scale if keep_scale in scales else default)

    def _on_load_json(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Degradation parameters", str(Path.home()), "JSON (*.json)"
        )
        if path:
            self.load_degradation(path)

    def load_degradation(self, path: str | Path) -> DegradationParams:
        """Fill the degradation fields from a JSON file written by the fit (raises on error)."""
        from ..core.config import DegradationParams

        params = DegradationParams.load(path)
        self.loaded_params = params
        self.deg_mode.setCurrentIndex(0)
        if self.scale.findText(str(params.scale)) < 0:
            self.scale.addItem(str(params.scale))
        self.scale.setCurrentText(str(params.scale))
        self.sigma.setValue(params.sigma)
        self.noise_std.setValue(params.noise_std)
        self.gain.setValue(params.gain)
        self.deg_source.setText(f"{Path(path).name} ({params.source})")
        return params

    def _on_browse_run_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Run folder", str(Path.home()))
        if path:
            self.run_dir.setText(path)

    def refresh_models(self) -> None:
        """List bundled and registered models as fine-tuning starting points."""
        from ._models import available_models

        current = self.init_model.currentData()
        self.init_model.blockSignals(True)
        self.init_model.clear()
        self.init_model.addItem(SCRATCH, None)
        for label, ref in available_models().items():
            self.init_model.addItem(label, ref)
        self.init_model.addItem(FROM_FILE, FROM_FILE)
        index = self.init_model.findData(current)
        self.init_model.setCurrentIndex(max(index, 0))
        self.init_model.blockSignals(False)

    def init_reference(self) -> str | None:
        """The model to fine-tune (bundled name or path), or ``None`` to start afresh."""
        ref = self.init_model.currentData()
        if ref == FROM_FILE:
            return self.init_path.text().strip() or None
        return ref

    def _on_init_changed(self, *_: Any) -> None:
        """Show the model's architecture, preset and scale, which fine-tuning must keep."""
        from ..core.modelio import read_model_meta

        self.init_path.setVisible(self.init_model.currentData() == FROM_FILE)
        ref = self.init_reference()
        meta = None
        if ref is not None:
            try:
                meta = read_model_meta(ref)
            except (OSError, ValueError):
                meta = None  # reported when the config is built at Start
        if meta is not None:
            self.arch.setCurrentText(meta["arch"])
            if meta.get("preset"):
                self.preset.setCurrentText(meta["preset"])
            self.scale.setCurrentText(str(meta["scale"]))
        for w in (self.arch, self.preset, self.scale):
            w.setEnabled(meta is None)

    def values(self) -> dict[str, Any]:
        """The widget state as a plain dict (unvalidated)."""
        return {
            "hr_layers": self.hr_layer_names(),
            "lr_layer": None
            if self.lr_combo.currentText() in ("", NO_LR)
            else self.lr_combo.currentText(),
            "val_mode": "layer" if self.val_mode.currentIndex() == 1 else "fraction",
            "val_fraction": self.val_fraction.value(),
            "val_layer": self.val_layer.currentText() or None,
            "blind": self.deg_mode.currentIndex() == 1,
            "scale": int(self.scale.currentText() or 0),
            "sigma": self.sigma.value(),
            "noise_std": self.noise_std.value(),
            "gain": self.gain.value(),
            "sigma_range": (self.sigma_lo.value(), self.sigma_hi.value()),
            "noise_std_range": (self.noise_lo.value(), self.noise_hi.value()),
            "content_sigma_range": (self.soft_lo.value(), self.soft_hi.value()),
            "arch": self.arch.currentText(),
            "preset": self.preset.currentText(),
            "init": self.init_reference(),
            "patch": self.patch.value(),
            "batch": self.batch.value(),
            "iterations": self.iterations.value(),
            "lr": self.lr.text().strip(),
            "val_every": self.val_every.value(),
            "preview_every": self.preview_every.value(),
            "device": self.device.currentText(),
            "adversarial": self.adversarial.isChecked(),
            "run_dir": self.run_dir.text().strip() or None,
        }
