"""The Degradation section of the Train widget: typed in, loaded from a fit, or blind ranges.

It holds the scale too (the degradation is stated at one scale). Values shown after loading a
fit are the fit's; :attr:`DegradationSection.edited` names the fields typed since, which are
the only ones laid over the fit when training starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import ComboBox, Container, PushButton

from ...core.degradation.params import DegradationParams, DegradationRange
from ...core.limits import MAX_NOISE_FRACTION, MAX_SIGMA_HR
from ...core.training.config import DEFAULT_SCALE
from .._jobs import error_message, notify_error
from .._text import WrappingLabel
from .fields import heading, number, refill, row

if TYPE_CHECKING:  # pragma: no cover
    from .state import TrainState

FIXED, BLIND = "fixed", "blind range"


class DegradationSection(Container):
    """Fixed degradation (typed or a loaded fit) or blind ranges, and the scale."""

    def __init__(self, state: TrainState) -> None:
        self.state = state
        #: Degradation fields typed since the fit was loaded (the others keep its values).
        self.edited: set[str] = set()
        self._blind_sigma_edited = False
        self.deg_mode = ComboBox(choices=[FIXED, BLIND], value=FIXED)
        self.load_json_btn = PushButton(text="Load JSON…")
        self.load_json_btn.tooltip = "Parameters saved by the Fit degradation widget"
        self.deg_source = WrappingLabel(value="typed in", label="source")
        self._scales = [str(DEFAULT_SCALE)]  # the network's (napari resets every choice)
        self.scale = ComboBox(label="scale", choices=lambda _w: list(self._scales))
        self.fixed = self._fixed_fields()
        self.blind = self._blind_fields()
        super().__init__(
            widgets=[
                heading("Degradation"),
                row(self.deg_mode, self.load_json_btn, label="mode"),
                self.deg_source,
                self.scale,
                self.fixed,
                self.blind,
            ]
        )
        self.margins = (0, 0, 0, 0)
        self.blind.visible = False
        self._connect()
        state.report(self.values)

    def _connect(self) -> None:
        self.deg_mode.changed.connect(self._on_mode)
        self.load_json_btn.changed.connect(self._on_load_json)
        self.scale.changed.connect(self._on_scale_changed)
        for name in ("sigma", "noise_std", "gain"):
            getattr(self, name).changed.connect(lambda _v, n=name: self.edited.add(n))
        for w in (self.sigma_lo, self.sigma_hi):
            w.native.editingFinished.connect(self._on_blind_sigma_edited)
        self.state.degradation_set.connect(self._show_params)
        self.state.scales_changed.connect(self._offer_scales)
        self.state.model_fixed.connect(self._on_model_fixed)

    def _fixed_fields(self) -> Container:
        """PSF sigma, noise and gain of one degradation (a fit's, or typed in)."""
        default = DegradationParams()
        self.sigma = number(0.0, MAX_SIGMA_HR, default.sigma, 0.1, label="PSF sigma (HR px)")
        self.noise_std = number(0.0, 1e6, default.noise_std, 0.01, 4, label="noise std")
        self.noise_std.tooltip = "Standard deviation of the noise, in the image's own units"
        self.gain = number(-1e6, 1e6, default.gain, 0.1, 4, label="gain")
        box = Container(widgets=[self.sigma, self.noise_std, self.gain])
        box.margins = (0, 0, 0, 0)
        return box

    def _blind_fields(self) -> Container:
        """The ranges a blind model is trained over, and the soft and noisy specimens."""
        default = DegradationRange().for_scale(DEFAULT_SCALE)
        self.sigma_lo = number(0.0, MAX_SIGMA_HR, default.sigma[0], 0.1)
        self.sigma_hi = number(0.0, MAX_SIGMA_HR, default.sigma[1], 0.1)
        self.noise_lo = number(0, MAX_NOISE_FRACTION, default.noise_std[0], 0.01, 4)
        self.noise_hi = number(0, MAX_NOISE_FRACTION, default.noise_std[1], 0.01, 4)
        for w in (self.noise_lo, self.noise_hi):
            w.tooltip = "Fraction of the image's intensity range (1st-99.8th pct.)"
        self.soft_lo = number(0.0, MAX_SIGMA_HR, 0.0, 0.1)
        self.soft_hi = number(0.0, MAX_SIGMA_HR, 0.0, 0.1)
        for w in (self.soft_lo, self.soft_hi):
            w.tooltip = (
                "Also blur some HR patches themselves by up to this much (HR px), so the model "
                "learns that soft specimens exist and does not sharpen every smooth image. "
                "0: off."
            )
        self.grain_lo, self.grain_hi = number(0.0, 1, 0.0, 0.01), number(0.0, 1, 0.0, 0.01)
        for w in (self.grain_lo, self.grain_hi):
            w.tooltip = (
                "Also add noise of up to this std (fraction of the intensity range) to some HR "
                "patches themselves: HR captures have noise of their own, which the model "
                "should neither sharpen nor wipe out. 0: off."
            )
        box = Container(
            widgets=[
                row(self.sigma_lo, self.sigma_hi, label="PSF sigma range"),
                row(self.noise_lo, self.noise_hi, label="noise std range (rel.)"),
                row(self.soft_lo, self.soft_hi, label="soft specimens (HR px)"),
                row(self.grain_lo, self.grain_hi, label="noisy specimens (rel.)"),
            ]
        )
        box.margins = (0, 0, 0, 0)
        return box

    # ------------------------------------------------------------------ behaviour
    def _on_mode(self, mode: str) -> None:
        self.fixed.visible = mode == FIXED
        self.blind.visible = mode == BLIND

    def _on_load_json(self, *_) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self.native, "Degradation parameters", str(Path.home()), "JSON (*.json)"
        )
        if path:
            self.load_from_dialog(path)

    def load_from_dialog(self, path: str | Path) -> DegradationParams | None:
        """What *Load JSON…* does with the file chosen: load it, or say in a notification
        why it cannot (the fields keep what they showed)."""
        try:
            return self.load_degradation(path)
        except Exception as err:  # noqa: BLE001 - any failure is a notification
            notify_error(error_message(f"loading {Path(path).name}", err))
            return None

    def load_degradation(self, path: str | Path) -> DegradationParams:
        """Fill the degradation fields from a JSON file written by the fit (raises on error).

        The fields show the fit; until one is edited, training uses the fit's exact values.
        """
        params = DegradationParams.load(path)
        self.state.degradation_set.emit(params, Path(path).name)
        return params

    def _show_params(self, params: DegradationParams, origin: str) -> None:
        """Show ``params`` (a fit) as the fixed degradation; ``origin`` names where it came
        from. Until a field is edited, training uses these exact values."""
        self.deg_mode.value = FIXED
        self._choose_scale(params.scale)
        self.sigma.value = params.sigma
        self.noise_std.value = params.noise_std
        self.gain.value = params.gain
        self.edited.clear()  # what the fields show now is the fit itself
        self.deg_source.value = f"{origin} ({params.source})"

    def _offer_scales(self, scales) -> None:
        """The scales the network offers; the choice is kept where it is one of them."""
        keep = self.scale.value
        choices = self._scales = [str(s) for s in scales]
        default = str(DEFAULT_SCALE) if str(DEFAULT_SCALE) in choices else choices[0]
        refill(self.scale)
        self.scale.value = keep if keep in choices else default

    def _choose_scale(self, scale: int) -> None:
        """Choose ``scale`` (a fit's or a model's), listing it if the network does not."""
        if str(scale) not in self._scales:
            self._offer_scales([*self._scales, scale])
        self.scale.value = str(scale)

    def _on_model_fixed(self, meta) -> None:
        if meta is not None:
            self._choose_scale(meta["scale"])
        self.scale.enabled = meta is None

    def _on_blind_sigma_edited(self) -> None:
        self._blind_sigma_edited = True

    def _on_scale_changed(self, *_: Any) -> None:
        """Blind PSF ranges follow the scale until the user sets them."""
        if self._blind_sigma_edited or not self.scale.value:
            return
        lo, hi = DegradationRange().for_scale(int(self.scale.value)).sigma
        for widget, value in ((self.sigma_lo, lo), (self.sigma_hi, hi)):
            with widget.changed.blocked():
                widget.value = value

    def values(self) -> dict[str, Any]:
        """The section's state as a plain dict (unvalidated)."""
        return {
            "blind": self.deg_mode.value == BLIND,
            "scale": int(self.scale.value or 0),
            "sigma": self.sigma.value,
            "noise_std": self.noise_std.value,
            "gain": self.gain.value,
            "edited": sorted(self.edited),
            "sigma_range": (self.sigma_lo.value, self.sigma_hi.value),
            "noise_std_range": (self.noise_lo.value, self.noise_hi.value),
            "content_sigma_range": (self.soft_lo.value, self.soft_hi.value),
            "content_noise_range": (self.grain_lo.value, self.grain_hi.value),
        }
