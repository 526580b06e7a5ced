"""The settings of the Train widget: data, degradation, training and model sections.

The sections hold widget state only and talk through the widget's
:class:`~.state.TrainState`: each reports its values to it, and :meth:`TrainForm.values`
returns them as one plain dict, from which the training configuration is built (and
validated) when the user presses Start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, LineEdit, Select

from ...core.degradation.params import DegradationParams
from ...core.devices import available_devices
from ...core.errors import InputError
from ...core.training.config import TrainConfig, default_adversarial
from ...core.training.start import AUTO_INIT
from .._layers import OUTPUT_NAMES
from .degradation import DegradationSection
from .fields import heading, number, refill, row, whole

if TYPE_CHECKING:  # pragma: no cover
    from .state import TrainState

NO_LR = "(none: simulate LR from HR)"
NO_REAL = "(none: a simulated held-out LR)"
#: Architecture selected when the widget opens (the reference SRResNet generator).
DEFAULT_ARCH = "srresnet"
#: The layer the Train widget shows its validation preview in (never offered as data).
PREVIEW_LAYER = OUTPUT_NAMES[3]  # "SR preview (training)"
SCRATCH = "(random initialisation)"
AUTO_START = "bundled model of the scale (automatic)"
FROM_FILE = "model file…"
#: The start choice of :data:`SCRATCH`.
RANDOM = "random"
#: (label, value) of the validation choice.
VALIDATION = [("fraction of images", "fraction"), ("held-out layer", "layer")]


class DataSection(Container):
    """HR layers to train on, an optional paired LR, validation and the real LR capture."""

    def __init__(self, state: TrainState) -> None:
        self.state = state
        captures = lambda _w: [(ly.name, ly) for ly in state.captures()]  # noqa: E731
        self.hr_layers = Select(label="HR layers", choices=captures)
        self.hr_layers.tooltip = (
            "High-resolution training images: select one or more layers (Ctrl-click)"
        )
        self.hr_layers.native.setMaximumHeight(90)
        self.lr_combo = ComboBox(label="paired LR", choices=self._or(NO_LR))
        self.lr_combo.tooltip = "Optional real LR capture registered to the (single) HR layer"
        self.val_mode = ComboBox(choices=VALIDATION, value="fraction")
        default = TrainConfig.model_fields["val_fraction"].default
        self.val_fraction = number(0.05, 0.9, default, 0.05, 2)
        self.val_layer = ComboBox(choices=captures, visible=False)
        self.real_lr = ComboBox(label="real LR capture", choices=self._or(NO_REAL))
        self.real_lr.tooltip = (
            "The real LR capture the degradation was fitted on: three quarters of the training "
            "patches then take their LR from it (the rest is simulated by the fit), and the "
            "held-out part of the pair is validated, and the best model chosen, on the real "
            "capture"
        )
        validation = row(self.val_mode, self.val_fraction, self.val_layer, label="validation")
        super().__init__(
            widgets=[heading("Data"), self.hr_layers, self.lr_combo, validation, self.real_lr]
        )
        self.margins = (0, 0, 0, 0)
        self.val_mode.changed.connect(self._on_val_mode)
        state.layers_changed.connect(self.refresh)
        state.report(self.values)

    def _or(self, none_label: str):
        return lambda _w: [(none_label, None), *((ly.name, ly) for ly in self.state.captures())]

    def _on_val_mode(self, mode: str) -> None:
        self.val_fraction.visible = mode == "fraction"
        self.val_layer.visible = mode == "layer"

    def refresh(self) -> None:
        """Re-list the captures, keeping the choices (also across renames) where they exist."""
        for combo in (self.hr_layers, self.lr_combo, self.val_layer, self.real_lr):
            refill(combo)

    def set_hr_layers(self, names: list[str]) -> None:
        """Choose exactly the layers named (used by scripts, tests and the Fit widget)."""
        self.hr_layers.value = [ly for ly in self.hr_layers.choices if ly.name in names]

    def hr_layer_names(self) -> list[str]:
        """Names of the chosen HR layers, in the list's order."""
        chosen = {id(ly) for ly in self.hr_layers.value}
        return [ly.name for ly in self.hr_layers.choices if id(ly) in chosen]

    def choose(self, combo: ComboBox, name: str | None) -> None:
        """Choose the layer ``name`` in ``combo`` (its first entry when there is none)."""
        match = [ly for ly in combo.choices if ly is not None and ly.name == name]
        combo.value = match[0] if match else combo.choices[0] if combo.choices else None

    def values(self) -> dict[str, Any]:
        name = lambda w: None if w.value is None else w.value.name  # noqa: E731
        return {
            "hr_layers": self.hr_layer_names(),
            "lr_layer": name(self.lr_combo),
            "val_mode": self.val_mode.value,
            "val_fraction": self.val_fraction.value,
            "val_layer": name(self.val_layer),
            "real_lr_layer": name(self.real_lr),
        }


class TrainingSection(Container):
    """Steps, early stopping and the run folder; the rest folded under *advanced settings*
    (patch, batch, learning rate, validation and preview steps, device, GAN), so the common
    path fits a laptop screen."""

    def __init__(self, state: TrainState) -> None:
        d = TrainConfig.model_fields
        self.iterations = whole(1, 10_000_000, d["iters"].default, 100)
        self.early_stop = CheckBox(text="stop early", value=True)
        self.early_stop.tooltip = (
            "End a content-only run when its validation PSNR has not improved for a third of "
            "the iterations (at least 2 validations); the best model is kept"
        )
        self.run_dir = FileEdit(label="run folder", mode="d", nullable=True)
        self.run_dir.line_edit.native.setPlaceholderText("~/.napari-sisr/runs/<timestamp>")
        self.advanced = CheckBox(text="advanced settings", value=False)
        self.advanced.tooltip = (
            "Patch and batch size, learning rate, validation and preview steps, device, GAN "
            "phase, and the network (architecture, start)"
        )
        self.folded = self._advanced_rows(d)
        self.folded.visible = False
        super().__init__(
            widgets=[
                heading("Training"),
                row(self.iterations, self.early_stop, label="steps"),
                self.run_dir,
                self.advanced,
                self.folded,
            ]
        )
        self.margins = (0, 0, 0, 0)
        self.advanced.changed.connect(lambda on: setattr(self.folded, "visible", bool(on)))
        state.report(self.values)

    def _advanced_rows(self, d) -> Container:
        self.patch = whole(16, 2048, d["patch"].default, 8)
        self.patch.tooltip = "HR patch size (pixels); LR patches are patch / scale"
        self.batch = whole(1, 512, d["batch"].default)
        self.learning_rate = LineEdit(label="learning rate", value="")
        self.learning_rate.native.setPlaceholderText("preset default")
        self.learning_rate.tooltip = "Generator learning rate; empty: the preset's default"
        self.val_every = whole(1, 1_000_000, d["val_every"].default, 50)
        self.preview_every = whole(1, 1_000_000, d["val_every"].default, 50)
        self.val_every.tooltip = "Steps between validations (PSNR/SSIM on held-out data)"
        self.preview_every.tooltip = "Steps between updates of the preview layer"
        devices = available_devices()
        self.device = ComboBox(choices=devices, value=d["device"].default)
        self.adversarial = CheckBox(text="GAN", value=default_adversarial(self.device.value))
        self.adversarial.tooltip = "Adversarial loss with a discriminator (else content loss only)"
        box = Container(
            widgets=[
                row(self.patch, self.batch, label="patch / batch"),
                self.learning_rate,
                row(self.val_every, self.preview_every, label="val / preview every"),
                row(self.device, self.adversarial, label="device / loss"),
            ]
        )
        box.margins = (0, 0, 0, 0)
        return box

    def values(self) -> dict[str, Any]:
        return {
            "patch": self.patch.value,
            "batch": self.batch.value,
            "iterations": self.iterations.value,
            "learning_rate": self.learning_rate.value.strip(),
            "val_every": self.val_every.value,
            "preview_every": self.preview_every.value,
            "early_stop": self.early_stop.value,
            "device": self.device.value,
            "adversarial": self.adversarial.value,
            "run_dir": None if self.run_dir.value is None else str(self.run_dir.value),
        }


class ModelSection(Container):
    """The network (architecture and preset) and the model it starts from."""

    def __init__(self, state: TrainState) -> None:
        from ...core.archs import ARCHS

        self.state = state
        names = sorted(ARCHS)
        self.arch = ComboBox(choices=names, value=DEFAULT_ARCH if DEFAULT_ARCH in names else None)
        # choices read from the architecture: napari resets every choice of a docked widget
        self.preset = ComboBox(choices=self._presets)
        self.init_model = ComboBox(label="start from", choices=self._starts)
        self.init_model.value = TrainConfig.model_fields["init"].default or RANDOM  # 'auto'
        self.init_model.tooltip = (
            "Fine-tune a bundled or trained model instead of starting afresh. Automatic: the "
            "bundled model of the scale, for a single-channel SRResNet of the default preset "
            "(better than random weights on real pairs, trained on simulations or on the pair)"
        )
        self.init_path = FileEdit(mode="r", filter="*.json", nullable=True, visible=False)
        self.init_path.line_edit.native.setPlaceholderText("path to a model .json")
        super().__init__(
            widgets=[
                heading("Model"),
                row(self.arch, self.preset, label="architecture"),
                self.init_model,
                self.init_path,
            ]
        )
        self.margins = (0, 0, 0, 0)
        self.preset.value = _fallback_preset(self.preset.choices)
        self.arch.changed.connect(self._on_arch_changed)
        self.init_model.changed.connect(self._on_init_changed)
        self.init_path.changed.connect(self._on_init_changed)
        state.report(self.values)

    def _presets(self, _w=None) -> list[str]:
        from ...core.archs import get_spec

        return list(get_spec(self.arch.value).presets) if self.arch.value else []

    @staticmethod
    def _starts(_w=None) -> list[tuple[str, str]]:
        from .._models import available_models

        models = list(available_models().items())
        return [(AUTO_START, AUTO_INIT), (SCRATCH, RANDOM), *models, (FROM_FILE, FROM_FILE)]

    def _on_arch_changed(self, *_: Any) -> None:
        """Presets and scales follow the architecture (the degradation's scale listens)."""
        from ...core.archs import get_spec

        spec = get_spec(self.arch.value)
        keep = self.preset.value
        refill(self.preset)
        self.preset.value = keep if keep in spec.presets else _fallback_preset(spec.presets)
        self.state.scales_changed.emit(list(spec.scales))

    def refresh_models(self) -> None:
        """List bundled and registered models as fine-tuning starting points (in order:
        a model registered since stands before *model file…*, not after it)."""
        refill(self.init_model)

    def init_reference(self) -> str | None:
        """The model to fine-tune (bundled name or path), or ``None`` to start afresh."""
        ref = self.init_model.value
        if ref == FROM_FILE:
            path = self.init_path.value
            return None if path is None else str(path)
        return None if ref in (RANDOM, None) else ref

    def _on_init_changed(self, *_: Any) -> None:
        """Show the model's architecture, preset and scale, which fine-tuning must keep."""
        from ...core.modelio import read_model_meta

        self.init_path.visible = self.init_model.value == FROM_FILE
        ref = self.init_reference()
        meta = None
        if ref not in (None, AUTO_INIT):
            try:
                meta = read_model_meta(ref)
            except (InputError, OSError):
                meta = None  # reported when the config is built at Start
        if meta is not None:
            self.arch.value = meta["arch"]
            if meta.get("preset") in self.preset.choices:
                self.preset.value = meta["preset"]
        for w in (self.arch, self.preset):
            w.enabled = meta is None
        self.state.model_fixed.emit(meta)

    def values(self) -> dict[str, Any]:
        return {
            "arch": self.arch.value,
            "preset": self.preset.value,
            "init": self.init_reference(),
        }


def _fallback_preset(presets) -> str | None:
    """The preset chosen when the architecture's choice is free: "fast" where it has one."""
    presets = list(presets)
    return "fast" if "fast" in presets else (presets[0] if presets else None)


class TrainForm(Container):
    """All settings of the Train widget, in four sections; no computation happens here."""

    def __init__(self, state: TrainState) -> None:
        self.state = state
        self.data = DataSection(state)
        self.deg = DegradationSection(state)
        self.training = TrainingSection(state)
        self.model = ModelSection(state)
        self.model.visible = False  # under *advanced settings*, with the training's own
        super().__init__(
            widgets=[self.data, self.deg, self.training, self.model],
            labels=False,
            scrollable=True,
        )
        self.training.advanced.changed.connect(lambda on: setattr(self.model, "visible", on))
        self.model._on_arch_changed()
        state.running_changed.connect(lambda running: setattr(self, "enabled", not running))

    @property
    def native(self):
        """The scroll area around the sections (magicgui's own ``native`` is the inner
        widget): what the widget lays out, so the settings scroll and the buttons stay."""
        return self.root_native_widget

    @property
    def loaded_params(self) -> DegradationParams | None:
        """The fit loaded as the degradation, if any."""
        return self.state.loaded_params

    def values(self) -> dict[str, Any]:
        """The settings as a plain dict (unvalidated)."""
        return self.state.values()

    def load_degradation(self, path: str | Path) -> DegradationParams:
        """Fill the degradation fields from a fit's JSON file (raises on error)."""
        return self.deg.load_degradation(path)

    def use_pair(self, hr_name: str, params: DegradationParams, lr_name: str | None = None):
        """Train on the HR layer ``hr_name`` with the degradation ``params`` (a fit), and
        validate on ``lr_name``, the real capture it was fitted on."""
        self.data.refresh()
        self.data.set_hr_layers([hr_name])
        self.data.choose(self.data.lr_combo, None)  # simulated from the fit, not paired
        self.data.choose(self.data.real_lr, lr_name)
        self.state.degradation_set.emit(params, "the Fit widget")
