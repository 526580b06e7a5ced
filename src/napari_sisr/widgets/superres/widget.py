"""The "Super-resolve" dock widget: run a model over image layers, tile by tile, in a worker.

The widget collects the choices, runs :func:`.job.sr_job` through the shared
:class:`~.._jobs.JobRunner` (progress bar, activity dock, Cancel, errors as notifications) and
adds each result as soon as its layer is finished, as a layer that overlays its source exactly
(:mod:`.layers`). Its sections share one :class:`~.state.SuperResolveState` (the viewer, the
loaded models, the results, the current choices and the signals they talk through).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    PushButton,
    Select,
    SpinBox,
)

from ...core.devices import available_devices
from ...core.errors import InputError
from ...core.inference.config import PRECISIONS, PredictConfig
from ...core.inference.engines import installed_engines, pick_engine, pick_precision
from ...core.limits import MAX_TILE, MIN_TILE
from ...core.modelio import DEFAULT_MODEL, read_model_meta
from .._jobs import JobControls, error_message, notify_error, notify_info, notify_warning
from .._layers import image_layer_choices, is_output
from .._models import default_registry, model_card_line
from .._settings import plugin_defaults
from .._text import WrappingLabel, bring_into_view, fit_to_dock
from .degradation import DegradationControls
from .evidence import EvidenceControls
from .isotropic import IsotropicControls
from .job import (
    EvidenceDone,
    LayerDone,
    Note,
    Notice,
    SRSettings,
    SRTask,
    prepare_tasks,
    sr_job,
)
from .layers import kept_planes_kwargs, map_contrast_limits, open_result
from .live import LivePreview
from .score import ScoreControls
from .state import SuperResolveState

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["SuperResolveWidget"]


BROWSE = "<browse>"
NEW_LAYER, OME_ZARR = "New layer", "OME-Zarr file"
MODEL_FILTER = "napari-sisr or bioimage.io model (*.json *.safetensors *.zip)"


#: Tooltips of the controls, by attribute name.
TOOLTIPS = {
    "layers": "Image layers to super-resolve (follows the layer selection)",
    "all_layers": "Process every image layer of the viewer, one after another",
    "tile": "Tile edge in input pixels; smaller tiles use less memory",
    "halo": "Overlap read around each tile, in input pixels",
    "halo_auto": "Use the model's receptive field: tiled results then equal an untiled run",
    "device": "auto uses a GPU when one is available",
    "engine": "auto: OpenVINO on a CPU when installed (fastest there), else torch",
    "precision": (
        "auto: bf16 with OpenVINO on CPUs that run it natively, else fp32. bf16 / fp16 only "
        "where the device runs them natively (fp16: GPUs); int8 with OpenVINO (quantised "
        "once per model; costs about 0.06-0.08 dB)"
    ),
    "ensemble": (
        "Run the model on 8 flips and rotations of each tile (4 for a degradation-aware "
        "model) and average: a little more accurate (+0.11 dB on real pairs for models "
        "trained on the pair), about 8 times slower"
    ),
    "output": "OME-Zarr streams the result to disk: for images larger than memory",
    "out_path": (
        "Folder to write (.ome.zarr); with several layers each gets _<layer name> appended. "
        "An interrupted run of the same job is resumed."
    ),
    "overwrite": "Replace a finished output of the same name",
}


class SuperResolveWidget(Container):
    """Super-resolve image layers with a napari-sisr model.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer whose image layers are offered and which receives the results.
    """

    #: what a cancelled run kept (see :meth:`cancel`), for the status line
    _kept = ""

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        self.viewer = napari_viewer
        self._registry = default_registry()
        self._last_model: str | None = None
        self.state = SuperResolveState(
            napari_viewer,
            layers=self.chosen_layers,
            model=self.chosen_model,
            settings=self.settings,
        )

        self.layers = Select(label="Layers", choices=self._layer_choices, name="layers")
        self.all_layers = CheckBox(text="all image layers", value=False, name="all_layers")
        self.model = ComboBox(
            label="Model", choices=self._model_choices, nullable=True, name="model"
        )
        self.model_info = WrappingLabel(value="", name="model_info")
        self.forget_button = PushButton(text="Remove from list", name="forget", enabled=False)
        self.forget_button.tooltip = "Stop offering this trained model (its files stay)"
        default = plugin_defaults()  # napari's plugin settings (File > Preferences)
        self.tile = SpinBox(
            label="Tile (px)", min=MIN_TILE, max=MAX_TILE, step=16, value=default.tile, name="tile"
        )
        self.halo = SpinBox(min=0, max=512, value=0, enabled=False, name="halo")
        self.halo_auto = CheckBox(text="auto", value=True, name="halo_auto")
        halo_row = Container(
            widgets=[self.halo, self.halo_auto],
            layout="horizontal",
            labels=False,
            label="Halo (px)",
        )
        halo_row.margins = (0, 0, 0, 0)
        self._engine_controls(default)
        self.ensemble = CheckBox(
            text="average 8 orientations (8x slower)",
            value=PredictConfig.model_fields["ensemble"].default,
            name="ensemble",
        )
        self._output_controls()
        self.controls = JobControls("Super-resolve", graceful=True)  # hands over planes done
        self.degradation = DegradationControls(self.state)
        self.evidence = EvidenceControls()
        self.live = LivePreview(self.state)
        self.scoring = ScoreControls(self.state)
        self.isotropic = IsotropicControls(self._stack_layer, self._add_isotropic, self._device)
        super().__init__(widgets=self._sections(halo_row), scrollable=True)
        self._tooltips()
        fit_to_dock(self.native)

        self.layers.native.setMaximumHeight(120)
        self._connect()
        self._on_layers_changed()
        if DEFAULT_MODEL in self._registry.available().values():
            self.model.value = DEFAULT_MODEL  # the command line's default: a first click works
        self._on_model_changed(self.model.value)

    def _connect(self) -> None:
        """What each control, the viewer's layer list and the state's signals set off."""
        self.all_layers.changed.connect(lambda v: setattr(self.layers, "enabled", not v))
        self.layers.changed.connect(lambda *_: self.scoring.suggest())  # another capture
        self.halo_auto.changed.connect(self._on_halo_auto)
        self.model.changed.connect(self._on_model_changed)
        self.forget_button.changed.connect(self.forget_model)
        self.output.changed.connect(self._on_output_changed)
        self.controls.run_button.changed.connect(self.run)
        events = self.viewer.layers.events
        for event in (events.inserted, events.removed, events.reordered):
            event.connect(self._on_layers_changed)
        self.viewer.layers.selection.events.changed.connect(self._follow_selection)
        self._registry.connect(self._refresh_models)
        self.state.model_made.connect(self.set_model)
        for widget in (self.layers, self.all_layers, self.model, self.tile, self.halo_auto):
            widget.changed.connect(self.state.settings_changed.emit)

    def _output_controls(self) -> None:
        """Where the result goes: a new layer, or an OME-Zarr file (path, replace)."""
        self.output = ComboBox(
            label="Output", choices=[NEW_LAYER, OME_ZARR], value=NEW_LAYER, name="output"
        )
        self.out_path = FileEdit(
            label="OME-Zarr path", mode="w", filter="*.zarr", visible=False, name="out_path"
        )
        self.overwrite = CheckBox(
            text="replace an existing output", value=False, visible=False, name="overwrite"
        )

    def _engine_controls(self, default) -> None:
        """Device, engine and precision, from the plugin settings where they are valid."""
        devices = available_devices()
        self.device = ComboBox(
            label="Device",
            choices=devices,
            value=default.device if default.device in devices else "auto",
            name="device",
        )
        engines = ["auto", *installed_engines()]
        self.engine = ComboBox(
            label="Engine",
            choices=engines,
            value=default.engine if default.engine in engines else "auto",
            name="engine",
        )
        self.precision = ComboBox(
            label="Precision", choices=list(PRECISIONS), value=default.precision, name="precision"
        )

    def _on_output_changed(self, value) -> None:
        self.out_path.visible = self.overwrite.visible = value == OME_ZARR

    @property
    def native(self):
        """The scroll area around the controls: what napari docks, so the widget fits a
        laptop screen and scrolls (magicgui's own ``native`` is the inner widget)."""
        return self.root_native_widget

    # ------------------------------------------------------------------ layers
    def _layer_choices(self, _widget=None):
        return [(name, lyr) for name, lyr in image_layer_choices(self.viewer) if _is_source(lyr)]

    def _on_layers_changed(self, *_) -> None:
        for layer in self.viewer.layers:
            layer.events.name.connect(self._refresh_layer_names)
        self._refresh_layer_names()
        self.scoring.reference.reset_choices()
        self._follow_selection()
        self.scoring.suggest()  # a layer added may be the reference of the chosen one

    def _refresh_layer_names(self, *_) -> None:
        keep = [lyr for lyr in self.layers.value if lyr in self.viewer.layers]
        self.layers.reset_choices()
        self.layers.value = keep

    def _follow_selection(self, *_) -> None:
        """Choose the layers selected in napari's layer list, unless they are what this
        plugin computed (a fit's residual, a result): adding those selects them, and the
        capture chosen before stays chosen."""
        selected = list(self.viewer.layers.selection)
        chosen = [lyr for lyr in selected if _is_source(lyr) and not is_output(lyr)]
        if chosen:
            self.layers.value = chosen

    def _sections(self, halo_row) -> list:
        """The widget's rows, top to bottom; how it computes (tile, halo, device, engine,
        precision, orientations) folded under *advanced settings*, so the common path fits a
        laptop screen."""
        folded = [self.tile, halo_row, self.device, self.engine, self.precision, self.ensemble]
        self.advanced = CheckBox(
            text="advanced settings (tile, device, engine, precision)", value=False
        )
        self.advanced.changed.connect(lambda on: _show(folded, on))
        _show(folded, False)
        return [
            *(self.layers, self.all_layers, self.model, self.model_info, self.forget_button),
            *(self.degradation, self.output, self.out_path, self.overwrite),
            *(self.advanced, *folded, self.controls),
            *(self.evidence, self.live, self.scoring, self.isotropic),
        ]

    def _stack_layer(self):
        """The chosen layer, for the isotropic section (:class:`InputError` when none)."""
        chosen = self.chosen_layers()
        if not chosen:
            raise InputError("choose the z-stack layer")
        return chosen[0]

    def _device(self) -> str:
        return str(self.device.value)

    def _add_isotropic(self, data, kwargs) -> None:
        with self.state.keeping_selection():
            self.viewer.add_image(data, **kwargs)

    def chosen_layers(self) -> list:
        """The layers a click on *Super-resolve* would process (never a live preview)."""
        pool = self.viewer.layers if self.all_layers.value else self.layers.value
        return [lyr for lyr in pool if _is_source(lyr)]

    # ------------------------------------------------------------------ models
    def _model_choices(self, _widget=None):
        return [*self._registry.available().items(), ("Browse...", BROWSE)]

    def _refresh_models(self) -> None:
        self.model.reset_choices()

    def set_model(self, path) -> None:
        """Register a model file and choose it (what *Browse...* does after its dialog)."""
        try:
            ref = self._registry.register(path)
        except InputError as err:
            notify_error(f"cannot use model {path}: {err}")
            return
        self.model.reset_choices()
        self.model.value = str(ref)

    def forget_model(self, *_) -> None:
        """Remove the chosen trained model from the list (its files are left alone)."""
        ref = self.model.value
        if not self._registry.is_registered(ref):
            return
        self._registry.forget(ref)
        self.model.reset_choices()
        available = self._registry.available().values()
        self.model.value = DEFAULT_MODEL if DEFAULT_MODEL in available else None

    def _on_model_changed(self, value) -> None:
        if value == BROWSE:
            self._browse_model()
            return
        self._last_model = value
        self.forget_button.enabled = self._registry.is_registered(value)
        self.state.model_changed.emit(None)
        if value is None:
            self.model_info.value = "no model: choose one or Browse..."
            return
        try:
            meta = read_model_meta(value)
        except InputError as err:
            self.model_info.value = f"unusable: {err}"
            return
        self.state.model_changed.emit(meta)
        self._show_auto_halo()
        self.model_info.value = model_card_line(meta)
        self.model_info.tooltip = (
            f"{meta['arch']} ({meta.get('preset') or 'custom'}), receptive field "
            f"{meta.get('receptive_field', '?')} px. {(meta.get('card') or {}).get('summary', '')}"
        )

    def _on_halo_auto(self, auto: bool) -> None:
        self.halo.enabled = not auto
        if auto:
            self._show_auto_halo()

    def _show_auto_halo(self) -> None:
        """With *auto*, show the halo that will be used: the model's receptive field."""
        try:
            rf = read_model_meta(self.model.value).get("receptive_field")
        except InputError:
            rf = None
        if self.halo_auto.value and rf is not None:
            self.halo.value = int(rf)

    def _browse_model(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self.native, "Choose a napari-sisr model", "", MODEL_FILTER
        )
        if path:
            self.set_model(path)
        else:
            self.model.value = self._last_model

    # ------------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        """Whether a job is in progress."""
        return self.controls.runner.busy

    def chosen_model(self):
        """The chosen model (name or path); :class:`InputError` when none is."""
        ref = self.model.value
        if ref in (None, BROWSE):
            raise InputError("no model chosen: pick a bundled model or Browse... for a file")
        return ref

    def settings(self) -> SRSettings:
        """The job settings from the controls (raises :class:`InputError` naming a problem)."""
        ref = self.chosen_model()
        meta = read_model_meta(ref)
        config = PredictConfig(
            tile=int(self.tile.value),
            halo="auto" if self.halo_auto.value else int(self.halo.value),
            device=str(self.device.value),
            engine=str(self.engine.value),
            precision=str(self.precision.value),
            ensemble=bool(self.ensemble.value),
            degradation=self.degradation.steering(),
        )
        pick_precision(config.precision, config.device, pick_engine(config.engine, config.device))
        return SRSettings(
            model=str(ref),
            scale=int(meta["scale"]),
            config=config,
            overwrite=bool(self.overwrite.value) and self.output.value == OME_ZARR,
            evidence=self.evidence.on,
        )

    def run(self, *_):
        """Start super-resolving the chosen layers; returns the worker, or None on bad input."""
        try:
            settings = self.settings()
            out = None
            if self.output.value == OME_ZARR:
                out = str(self.out_path.value or "")
                if out in ("", "."):
                    raise InputError("choose an OME-Zarr output path")
            tasks = prepare_tasks(self.chosen_layers(), settings, out)
        except Exception as err:  # noqa: BLE001 - every failure becomes a notification
            self.controls.runner.refuse(error_message("Super-resolve", err))
            return None
        return self.controls.runner.start(
            sr_job,
            tasks,
            settings,
            self.state.cache,
            on_update=lambda update: self._on_update(update, tasks),
            on_done=lambda _n: None,
            on_finished=self._say_kept,
            description="Super-resolve",
        )

    def cancel(self, *_) -> None:
        """Stop after the tiles running: finished layers stay, and of the current one the
        planes (frames, slices) already finished, as a layer of their own."""
        self._kept = ""
        self.controls.runner.cancel()

    def _say_kept(self, state: str) -> None:
        if state == "cancelled" and self._kept:
            self.controls.status.value = f"Super-resolve cancelled: {self._kept}"
        self._kept = ""

    def _on_update(self, update, tasks: list[SRTask]) -> None:
        if isinstance(update, Notice):
            notify_warning(update.message)
            return
        if isinstance(update, Note):
            self.state.told.emit([update.message])
            return
        if isinstance(update, EvidenceDone):
            task = tasks[update.index]
            try:
                with self.state.keeping_selection():
                    self.evidence.show(
                        self.viewer,
                        task.layer,
                        task.layer_kwargs["name"],
                        update.z,
                        update.summary,
                    )
            except Exception as err:  # showing a result must never raise into Qt
                notify_error(error_message(f"Evidence of {task.name!r}", err))
            self._score_in_view()
            return
        if not isinstance(update, LayerDone):
            return
        task = tasks[update.index]
        try:
            # the sources stay selected, so the next click processes them again
            with self.state.keeping_selection():
                self._add_result(task, update.result, update.partial)
        except Exception as err:  # showing a result must never raise into Qt
            notify_error(error_message(f"Super-resolve (showing {task.name!r})", err))

    def _add_result(self, task: SRTask, data, partial=None) -> None:
        kwargs = dict(task.layer_kwargs)
        if partial is not None:
            kwargs = kept_planes_kwargs(kwargs, partial)
            self._kept = (
                f"kept the first {partial.planes} of {partial.of} planes as {kwargs['name']!r}"
            )
            notify_info(f"Super-resolve cancelled: {self._kept}")
        elif task.out is not None:
            data = open_result(task.out)
        first = data[0] if isinstance(data, list) else data
        kwargs["contrast_limits"] = map_contrast_limits(
            kwargs["contrast_limits"], task.src_dtype, first.dtype
        )
        result = self.viewer.add_image(data, multiscale=isinstance(data, list), **kwargs)
        self.state.add_result(task.layer, result)
        self._score_in_view()

    def _score_in_view(self) -> None:
        """With a reference chosen, scoring is the next step: show its controls (a result's
        evidence table, filled in above them, grows the widget past a laptop screen)."""
        if self.scoring.reference.value is not None:
            bring_into_view(self.scoring)

    def latest_result(self, source):
        """The newest result of ``source`` this widget added that is still in the viewer."""
        return self.state.latest_result(source)

    def _tooltips(self) -> None:
        for name, text in TOOLTIPS.items():
            getattr(self, name).tooltip = text


def _show(widgets, on) -> None:
    for widget in widgets:
        widget.visible = bool(on)


def _is_source(layer) -> bool:
    """An image layer that is not a live preview or an evidence map."""
    from napari.layers import Image

    meta = layer.metadata.get("napari_sisr", {}) if isinstance(layer, Image) else {}
    return isinstance(layer, Image) and not meta.get("live") and not meta.get("evidence_of")
