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
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ...core.degradation.params import DegradationParams
from ...core.devices import available_devices
from ...core.errors import InputError
from ...core.training.config import DEFAULT_SCALE, TrainConfig, default_adversarial
from ...core.training.start import AUTO_INIT
from .._layers import OUTPUT_NAMES, is_output
from .degradation import DegradationGroup
from .fields import dspin, row, spin

if TYPE_CHECKING:
    import napari

NO_LR = "(none: simulate LR from HR)"
NO_REAL = "(none: a simulated held-out LR)"
#: Architecture selected when the widget opens (the reference SRResNet generator).
DEFAULT_ARCH = "srresnet"
#: The layer the Train widget shows its validation preview in (never offered as data).
PREVIEW_LAYER = OUTPUT_NAMES[3]  # "SR preview (training)"
SCRATCH = "(random initialisation)"
AUTO_START = "bundled model of the scale (automatic)"
FROM_FILE = "model file…"
#: The combo's data of :data:`SCRATCH` (``None`` is what an empty combo answers: it must not
#: read as "random weights", or a freshly filled combo would start there).
_RANDOM = "random"


class TrainForm(QWidget):
    """All inputs of the Train widget, grouped; no computation happens here."""

    def __init__(self, viewer: napari.viewer.Viewer, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self.deg = DegradationGroup()
        self.scale = self.deg.scale  # the model's scale is the degradation's
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self._data_group())
        lay.addWidget(self.deg)
        lay.addWidget(self._training_group())
        self.model_group = self._model_group()
        lay.addWidget(self.model_group)
        self.advanced.toggled.connect(self._show_advanced)
        self._show_advanced(False)
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
        self.val_fraction = dspin(
            0.05, 0.9, TrainConfig.model_fields["val_fraction"].default, 0.05, 2
        )
        self.val_layer = QComboBox()
        self.val_stack = QStackedWidget()
        self.val_stack.addWidget(self.val_fraction)
        self.val_stack.addWidget(self.val_layer)
        self.val_stack.setMaximumHeight(self.val_fraction.sizeHint().height() + 4)
        self.val_mode.currentIndexChanged.connect(self.val_stack.setCurrentIndex)
        f.addRow("validation", row(self.val_mode, self.val_stack))
        self.real_lr = QComboBox()
        self.real_lr.setToolTip(
            "The real LR capture the degradation was fitted on: three quarters of the training "
            "patches then take their LR from it (the rest is simulated by the fit), and the "
            "held-out part of the pair is validated, and the best model chosen, on the real "
            "capture"
        )
        f.addRow("real LR capture", self.real_lr)
        return g

    def _model_group(self) -> QGroupBox:
        from ...core.archs import ARCHS

        g = QGroupBox("Model")
        f = QFormLayout(g)
        self.arch = QComboBox()
        self.arch.addItems(sorted(ARCHS))
        self.arch.setCurrentText(DEFAULT_ARCH if DEFAULT_ARCH in ARCHS else sorted(ARCHS)[0])
        self.arch.currentTextChanged.connect(self._on_arch_changed)
        self.preset = QComboBox()
        f.addRow("architecture", row(self.arch, self.preset))
        self.init_model = QComboBox()
        self.init_model.setToolTip(
            "Fine-tune a bundled or trained model instead of starting afresh. Automatic: the "
            "bundled model of the scale, for a single-channel SRResNet of the default preset "
            "(better than random weights on real pairs, trained on simulations or on the pair)"
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
        """Steps, early stopping and the run folder; the rest folded under *advanced
        settings* (patch, batch, learning rate, validation and preview, device, GAN, and the
        Model group), so the common path fits a laptop screen."""
        d = TrainConfig.model_fields
        g = QGroupBox("Training")
        f = QFormLayout(g)
        self.iterations = spin(1, 10_000_000, d["iters"].default, 100)
        self.early_stop = QCheckBox("stop early")
        self.early_stop.setChecked(True)
        self.early_stop.setToolTip(
            "End a content-only run when its validation PSNR has not improved for a third of "
            "the iterations (at least 2 validations); the best model is kept"
        )
        f.addRow("steps", row(self.iterations, self.early_stop))
        self.run_dir = QLineEdit()
        self.run_dir.setPlaceholderText("~/.napari-sisr/runs/<timestamp>")
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.clicked.connect(self._on_browse_run_dir)
        f.addRow("run folder", row(self.run_dir, browse))
        self.advanced = QCheckBox("advanced settings")
        self.advanced.setToolTip(
            "Patch and batch size, learning rate, validation and preview steps, device, GAN "
            "phase, and the network (architecture, start)"
        )
        f.addRow(self.advanced)
        self.advanced_box = QWidget()
        fa = QFormLayout(self.advanced_box)
        fa.setContentsMargins(0, 0, 0, 0)
        self._advanced_rows(fa, d)
        f.addRow(self.advanced_box)
        return g

    def _advanced_rows(self, f: QFormLayout, d) -> None:
        self.patch = spin(16, 2048, d["patch"].default, 8)
        self.patch.setToolTip("HR patch size (pixels); LR patches are patch / scale")
        self.batch = spin(1, 512, d["batch"].default)
        f.addRow("patch / batch", row(self.patch, self.batch))
        self.learning_rate = QLineEdit()
        self.learning_rate.setPlaceholderText("preset default")
        self.learning_rate.setToolTip("Generator learning rate; empty: the preset's default")
        f.addRow("learning rate", self.learning_rate)
        self.val_every = spin(1, 1_000_000, d["val_every"].default, 50)
        self.preview_every = spin(1, 1_000_000, d["val_every"].default, 50)
        self.val_every.setToolTip("Steps between validations (PSNR/SSIM on held-out data)")
        self.preview_every.setToolTip("Steps between updates of the preview layer")
        f.addRow("val / preview every", row(self.val_every, self.preview_every))
        self.device = QComboBox()
        self.device.addItems(available_devices())
        self.device.setCurrentText(d["device"].default)
        self.adversarial = QCheckBox("GAN")
        self.adversarial.setToolTip(
            "Adversarial loss with a discriminator (else content loss only)"
        )
        self.adversarial.setChecked(default_adversarial(self.device.currentText()))
        f.addRow("device / loss", row(self.device, self.adversarial))

    def _show_advanced(self, on: bool) -> None:
        self.advanced_box.setVisible(bool(on))
        self.model_group.setVisible(bool(on))

    @property
    def loaded_params(self) -> DegradationParams | None:
        """The fit loaded into the degradation group, if any."""
        return self.deg.loaded_params

    def load_degradation(self, path: str | Path) -> DegradationParams:
        """Fill the degradation fields from a fit's JSON file (raises on error)."""
        return self.deg.load_degradation(path)

    def use_pair(self, hr_name: str, params: DegradationParams, lr_name: str | None = None):
        """Train on the HR layer ``hr_name`` with the degradation ``params`` (a fit), and
        validate on ``lr_name``, the real capture it was fitted on."""
        self.refresh_layers()
        self.set_hr_layers([hr_name])
        self.lr_combo.setCurrentIndex(0)  # simulated from the fit, not paired
        self.real_lr.setCurrentIndex(max(self.real_lr.findText(lr_name or ""), 0))
        self.deg.set_params(params, "the Fit widget")

    # ------------------------------------------------------------------ behaviour
    def refresh_layers(self, event=None) -> None:
        """Re-list image layers, keeping the choices (also across renames) where they exist."""
        from napari.layers import Image

        layers = [  # captures only: results, previews and maps are no training data
            ly for ly in self.viewer.layers if isinstance(ly, Image) and not is_output(ly)
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
        for combo, first in (
            (self.lr_combo, NO_LR),
            (self.val_layer, None),
            (self.real_lr, NO_REAL),
        ):
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
        from ...core.archs import get_spec

        spec = get_spec(self.arch.currentText())
        keep_preset, keep_scale = self.preset.currentText(), self.scale.currentText()
        self.preset.clear()
        self.preset.addItems(list(spec.presets))
        fallback = "fast" if "fast" in spec.presets else next(iter(spec.presets))
        self.preset.setCurrentText(keep_preset if keep_preset in spec.presets else fallback)
        self.scale.clear()
        scales = [str(s) for s in spec.scales]
        self.scale.addItems(scales)
        default = str(DEFAULT_SCALE) if str(DEFAULT_SCALE) in scales else scales[0]
        self.scale.setCurrentText(keep_scale if keep_scale in scales else default)

    def _on_browse_run_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Run folder", str(Path.home()))
        if path:
            self.run_dir.setText(path)

    def refresh_models(self) -> None:
        """List bundled and registered models as fine-tuning starting points."""
        from .._models import available_models

        current = self.init_model.currentData()
        if current is None:  # first fill: the default start, as on the command line
            current = TrainConfig.model_fields["init"].default
        self.init_model.blockSignals(True)
        self.init_model.clear()
        self.init_model.addItem(AUTO_START, AUTO_INIT)
        self.init_model.addItem(SCRATCH, _RANDOM)
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
        return None if ref in (_RANDOM, None) else ref

    def _on_init_changed(self, *_: Any) -> None:
        """Show the model's architecture, preset and scale, which fine-tuning must keep."""
        from ...core.modelio import read_model_meta

        self.init_path.setVisible(self.init_model.currentData() == FROM_FILE)
        ref = self.init_reference()
        meta = None
        if ref not in (None, AUTO_INIT):
            try:
                meta = read_model_meta(ref)
            except (InputError, OSError):
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
            "real_lr_layer": None
            if self.real_lr.currentText() in ("", NO_REAL)
            else self.real_lr.currentText(),
            **self.deg.values(),
            "arch": self.arch.currentText(),
            "preset": self.preset.currentText(),
            "init": self.init_reference(),
            "patch": self.patch.value(),
            "batch": self.batch.value(),
            "iterations": self.iterations.value(),
            "learning_rate": self.learning_rate.text().strip(),
            "val_every": self.val_every.value(),
            "preview_every": self.preview_every.value(),
            "early_stop": self.early_stop.isChecked(),
            "device": self.device.currentText(),
            "adversarial": self.adversarial.isChecked(),
            "run_dir": self.run_dir.text().strip() or None,
        }
