"""The Degradation group of the Train form: typed in, loaded from a fit, or blind ranges.

It holds the scale too (the degradation is stated at one scale). Values shown after loading a
fit are the fit's; :attr:`DegradationGroup.edited` names the fields typed since, which are the
only ones laid over the fit when training starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QStackedWidget,
    QWidget,
)

from ...core.degradation.params import DegradationParams, DegradationRange
from ...core.limits import MAX_NOISE_FRACTION, MAX_SIGMA_HR
from ...core.training.config import DEFAULT_SCALE
from .fields import dspin, row


class DegradationGroup(QGroupBox):
    """Fixed degradation (typed or a loaded fit) or blind ranges, and the scale."""

    def __init__(self, parent=None):
        super().__init__("Degradation", parent)
        self.loaded_params: DegradationParams | None = None
        #: Degradation fields typed since the fit was loaded (the others keep its values).
        self.edited: set[str] = set()
        f = QFormLayout(self)
        self.deg_mode = QComboBox()
        self.deg_mode.addItems(["fixed", "blind range"])
        self.load_json_btn = QPushButton("Load JSON…")
        self.load_json_btn.setToolTip("Parameters saved by the Fit degradation widget")
        self.load_json_btn.clicked.connect(self._on_load_json)
        f.addRow("mode", row(self.deg_mode, self.load_json_btn))
        self.deg_source = QLabel("typed in")
        self.deg_source.setWordWrap(True)
        f.addRow("source", self.deg_source)
        self.scale = QComboBox()
        self.scale.currentTextChanged.connect(self._on_scale_changed)
        f.addRow("scale", self.scale)

        fixed, blind = self._fixed_fields(), self._blind_fields()
        self.deg_stack = QStackedWidget()
        self.deg_stack.addWidget(fixed)
        self.deg_stack.addWidget(blind)
        self.deg_mode.currentIndexChanged.connect(self.deg_stack.setCurrentIndex)
        f.addRow(self.deg_stack)

    def _fixed_fields(self) -> QWidget:
        """PSF sigma, noise and gain of one degradation (a fit's, or typed in)."""
        fixed = QWidget()
        ff = QFormLayout(fixed)
        ff.setContentsMargins(0, 0, 0, 0)
        fixed_default = DegradationParams()
        self.sigma = dspin(0.0, MAX_SIGMA_HR, fixed_default.sigma, 0.1)
        self.noise_std = dspin(0.0, 1e6, fixed_default.noise_std, 0.01, 4)
        self.gain = dspin(-1e6, 1e6, fixed_default.gain, 0.1, 4)
        for name in ("sigma", "noise_std", "gain"):
            getattr(self, name).valueChanged.connect(lambda _v, n=name: self.edited.add(n))
        ff.addRow("PSF sigma (HR px)", self.sigma)
        ff.addRow("noise std", self.noise_std)
        ff.addRow("gain", self.gain)
        return fixed

    def _blind_fields(self) -> QWidget:
        """The ranges a blind model is trained over, and the soft and noisy specimens."""
        blind = QWidget()
        fb = QFormLayout(blind)
        fb.setContentsMargins(0, 0, 0, 0)
        blind_default = DegradationRange().for_scale(DEFAULT_SCALE)
        self.sigma_lo = dspin(0.0, MAX_SIGMA_HR, blind_default.sigma[0], 0.1)
        self.sigma_hi = dspin(0.0, MAX_SIGMA_HR, blind_default.sigma[1], 0.1)
        self.noise_lo = dspin(0, MAX_NOISE_FRACTION, blind_default.noise_std[0], 0.01, 4)
        self.noise_hi = dspin(0, MAX_NOISE_FRACTION, blind_default.noise_std[1], 0.01, 4)
        self._blind_sigma_edited = False
        for w in (self.sigma_lo, self.sigma_hi):
            w.editingFinished.connect(self._on_blind_sigma_edited)
        self.noise_lo.setToolTip("Fraction of the image's intensity range (1st-99.8th pct.)")
        self.noise_hi.setToolTip(self.noise_lo.toolTip())
        fb.addRow("PSF sigma range", row(self.sigma_lo, self.sigma_hi))
        fb.addRow("noise std range (rel.)", row(self.noise_lo, self.noise_hi))
        self.soft_lo, self.soft_hi = (
            dspin(0.0, MAX_SIGMA_HR, 0.0, 0.1),
            dspin(0.0, MAX_SIGMA_HR, 0.0, 0.1),
        )
        self.soft_hi.setToolTip(
            "Also blur some HR patches themselves by up to this much (HR px), so the model "
            "learns that soft specimens exist and does not sharpen every smooth image. 0: off."
        )
        self.soft_lo.setToolTip(self.soft_hi.toolTip())
        fb.addRow("soft specimens (HR px)", row(self.soft_lo, self.soft_hi))
        self.grain_lo, self.grain_hi = dspin(0.0, 1, 0.0, 0.01, 3), dspin(0.0, 1, 0.0, 0.01, 3)
        self.grain_hi.setToolTip(
            "Also add noise of up to this std (fraction of the intensity range) to some HR "
            "patches themselves: HR captures have noise of their own, which the model should "
            "neither sharpen nor wipe out. 0: off."
        )
        self.grain_lo.setToolTip(self.grain_hi.toolTip())
        fb.addRow("noisy specimens (rel.)", row(self.grain_lo, self.grain_hi))
        return blind

    def _on_load_json(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Degradation parameters", str(Path.home()), "JSON (*.json)"
        )
        if path:
            self.load_degradation(path)

    def load_degradation(self, path: str | Path) -> DegradationParams:
        """Fill the degradation fields from a JSON file written by the fit (raises on error).

        The fields show the fit; until one is edited, training uses the fit's exact values.
        """
        return self.set_params(DegradationParams.load(path), Path(path).name)

    def set_params(self, params: DegradationParams, origin: str) -> DegradationParams:
        """Show ``params`` (a fit) as the fixed degradation; ``origin`` names where it came
        from. Until a field is edited, training uses these exact values."""
        self.loaded_params = params
        self.deg_mode.setCurrentIndex(0)
        if self.scale.findText(str(params.scale)) < 0:
            self.scale.addItem(str(params.scale))
        self.scale.setCurrentText(str(params.scale))
        self.sigma.setValue(params.sigma)
        self.noise_std.setValue(params.noise_std)
        self.gain.setValue(params.gain)
        self.edited.clear()  # what the fields show now is the fit itself
        self.deg_source.setText(f"{origin} ({params.source})")
        return params

    def _on_blind_sigma_edited(self) -> None:
        self._blind_sigma_edited = True

    def _on_scale_changed(self, *_: Any) -> None:
        """Blind PSF ranges follow the scale until the user sets them."""
        if self._blind_sigma_edited or not self.scale.currentText():
            return
        lo, hi = DegradationRange().for_scale(int(self.scale.currentText())).sigma
        for widget, value in ((self.sigma_lo, lo), (self.sigma_hi, hi)):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)

    def values(self) -> dict[str, Any]:
        """The group's state as a plain dict (unvalidated)."""
        return {
            "blind": self.deg_mode.currentIndex() == 1,
            "scale": int(self.scale.currentText() or 0),
            "sigma": self.sigma.value(),
            "noise_std": self.noise_std.value(),
            "gain": self.gain.value(),
            "edited": sorted(self.edited),
            "sigma_range": (self.sigma_lo.value(), self.sigma_hi.value()),
            "noise_std_range": (self.noise_lo.value(), self.noise_hi.value()),
            "content_sigma_range": (self.soft_lo.value(), self.soft_hi.value()),
            "content_noise_range": (self.grain_lo.value(), self.grain_hi.value()),
        }
