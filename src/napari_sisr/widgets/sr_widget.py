"""The "Super-resolve" dock widget: run a model over image layers, tile by tile, in a worker.

The widget only collects choices, starts the job (:mod:`._sr_job`) in napari's thread worker
and adds each result as a layer that overlays its source exactly (:mod:`._sr_layers`).
Results go straight to the viewer; nothing is kept on the widget but the loaded-model cache.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    Label,
    PushButton,
    Select,
    SpinBox,
)
from napari.layers import Image
from napari.utils import progress
from napari.utils.notifications import show_error, show_info

from napari_sisr.core.modelio import read_model_meta
from napari_sisr.core.progress import Cancelled

from ._models import ModelCache, default_registry
from ._sr_job import SRSettings, SRTask, TaskProgress, TaskResult, prepare_tasks, run_tasks

if TYPE_CHECKING:  # pragma: no cover
    import napari.viewer

log = logging.getLogger(__name__)

BROWSE = "<browse>"
NEW_LAYER, OME_ZARR = "New layer", "OME-Zarr file"
UNITS = 1000  # progress-bar units per layer
MODEL_FILTER = "napari-sisr model (*.json *.safetensors)"
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, KeyError)


def _devices() -> list[str]:
    import torch

    out = ["auto", "cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append("mps")
    return out


class SuperResolveWidget(Container):
    """Super-resolve image layers with a napari-sisr model.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer whose image layers are offered and which receives the results.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._registry = default_registry()
        self._cache = ModelCache()
        self._worker = None
        self._stop: threading.Event | None = None
        self._pbar: progress | None = None
        self._last_model = None

        self._layers = Select(label="Layers", choices=self._layer_choices)
        self._all = CheckBox(text="all image layers", value=False)
        self._model = ComboBox(label="Model", choices=self._model_choices, nullable=True)
        self._model_info = Label(label="", value="")
        self._tile = SpinBox(label="Tile (px)", min=16, max=8192, step=16, value=256)
        self._halo = SpinBox(label="Halo (px)", min=0, max=512, value=0)
        self._halo.native.setSpecialValueText("auto")
        self._device = ComboBox(label="Device", choices=_devices(), value="auto")
        self._precision = ComboBox(label="Precision", choices=["fp32", "bf16", "fp16"])
        self._output = ComboBox(label="Output", choices=[NEW_LAYER, OME_ZARR], value=NEW_LAYER)
        self._out_path = FileEdit(label="OME-Zarr path", mode="w", filter="*.zarr", visible=False)
        self._run_btn = PushButton(text="Super-resolve")
        self._cancel_btn = PushButton(text="Cancel", enabled=False)
        self._status = Label(label="", value="")
        self.extend(
            [
                self._layers,
                self._all,
                self._model,
                self._model_info,
                self._tile,
                self._halo,
                self._device,
                self._precision,
                self._output,
                self._out_path,
                self._run_btn,
                self._cancel_btn,
                self._status,
            ]
        )
        self._tooltips()

        self._all.changed.connect(lambda v: setattr(self._layers, "enabled", not v))
        self._model.changed.connect(self._on_model_changed)
        self._output.changed.connect(lambda v: setattr(self._out_path, "visible", v == OME_ZARR))
        self._run_btn.changed.connect(self.run)
        self._cancel_btn.changed.connect(self.cancel)

        layers = self._viewer.layers
        for event in (layers.events.inserted, layers.events.removed, layers.events.moved):
            event.connect(self._on_layers_changed)
        layers.selection.events.changed.connect(self._follow_selection)
        self._registry.connect(self._refresh_models)
        self.native.destroyed.connect(self._teardown)
        self._on_layers_changed()
        self._on_model_changed(self._model.value)

    # ---- choices ---------------------------------------------------------------------------
    def _layer_choices(self, _widget=None):
        return [(lyr.name, lyr) for lyr in self._viewer.layers if isinstance(lyr, Image)]

    def _model_choices(self, _widget=None):
        return [*self._registry.available().items(), ("Browse...", BROWSE)]

    def _on_layers_changed(self, event=None) -> None:
        for layer in self._viewer.layers:
            layer.events.name.connect(self._refresh_layer_names)
        self._refresh_layer_names()
        self._follow_selection()

    def _refresh_layer_names(self, event=None) -> None:
        keep = [lyr for lyr in self._layers.value if lyr in self._viewer.layers]
        self._layers.reset_choices()
        self._layers.value = keep

    def _follow_selection(self, event=None) -> None:
        chosen = [lyr for lyr in self._viewer.layers.selection if isinstance(lyr, Image)]
        if chosen:
            self._layers.value = chosen

    def _refresh_models(self) -> None:
        self._model.reset_choices()

    def set_model(self, path) -> None:
        """Register a model file and choose it (what "Browse..." does after the dialog)."""
        try:
            ref = self._registry.register(path)
        except (FileNotFoundError, ValueError) as err:
            show_error(f"Super-resolve: cannot use model {path}: {err}")
            return
        self._model.reset_choices()
        self._model.value = str(ref)

    def _on_model_changed(self, value) -> None:
        if value == BROWSE:
            self._browse_model()
            return
        self._last_model = value
        if value is None:
            self._model_info.value = "no model: choose one or Browse..."
            return
        try:
            meta = read_model_meta(value)
        except (FileNotFoundError, ValueError) as err:
            self._model_info.value = f"unusable: {err}"
            return
        ch = meta["in_channels"]
        self._model_info.value = (
            f"{meta['arch']} ({meta.get('preset') or 'custom'}), x{meta['scale']}, "
            f"{ch} channel{'s' if ch != 1 else ''}, receptive field "
            f"{meta.get('receptive_field', '?')} px"
        )

    def _browse_model(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self.native, "Choose a napari-sisr model", "", MODEL_FILTER
        )
        if path:
            self.set_model(path)
        else:
            self._model.value = self._last_model

    @property
    def running(self) -> bool:
        """Whether a job is in progress."""
        return self._worker is not None

    # ---- running ---------------------------------------------------------------------------
    def _chosen_layers(self) -> list[Image]:
        if self._all.value:
            return [lyr for lyr in self._viewer.layers if isinstance(lyr, Image)]
        return list(self._layers.value)

    def _settings(self) -> SRSettings:
        ref = self._model.value
        if ref in (None, BROWSE):
            raise ValueError("no model chosen: pick a bundled model or Browse... for a file")
        meta = read_model_meta(ref)
        return SRSettings(
            model=str(ref),
            scale=int(meta["scale"]),
            tile=int(self._tile.value),
            halo=int(self._halo.value) or "auto",
            device=str(self._device.value),
            precision=str(self._precision.value),
        )

    def run(self, _=None):
        """Start super-resolving the chosen layers (returns the worker, or None on bad input)."""
        if self._worker is not None:
            show_info("Super-resolve is already running; cancel it first")
            return None
        try:
            settings = self._settings()
            out = None
            if self._output.value == OME_ZARR:
                out = str(self._out_path.value)
                if not out or out == ".":
                    raise ValueError("choose an OME-Zarr output path")
            tasks = prepare_tasks(self._chosen_layers(), settings, out)
        except USER_ERRORS as err:
            show_error(f"Super-resolve: {err}")
            return None
        return self._start(tasks, settings)

    def _start(self, tasks: list[SRTask], settings: SRSettings):
        from napari.qt.threading import create_worker

        self._stop = threading.Event()
        sources = list(self._viewer.layers.selection)
        t0 = time.perf_counter()
        state = {"units": 0}
        self._pbar = progress(total=len(tasks) * UNITS, desc="Super-resolve")
        worker = create_worker(
            run_tasks,
            tasks,
            settings,
            self._cache,
            self._stop,
            _start_thread=False,
            _connect={
                "yielded": lambda upd: self._on_yielded(upd, tasks, state, sources),
                "returned": lambda n: self._done(
                    f"done: {n} layer(s) in {time.perf_counter() - t0:.1f} s"
                ),
                "errored": self._on_error,
                "aborted": lambda: self._done("cancelled"),
                "finished": self._on_finished,
            },
        )
        self._worker = worker
        self._run_btn.enabled = False
        self._cancel_btn.enabled = True
        self._status.value = "running..."
        worker.start()
        return worker

    def _on_yielded(self, update, tasks: list[SRTask], state: dict, sources: list) -> None:
        if isinstance(update, TaskProgress):
            task = tasks[update.index]
            units = update.index * UNITS + int(UNITS * min(update.progress.fraction, 1.0))
            if self._pbar is not None and units > state["units"]:
                self._pbar.update(units - state["units"])
                state["units"] = units
            text = f"{task.name} ({update.index + 1}/{update.count}): {update.progress.message}"
            if self._pbar is not None:
                self._pbar.set_description(text)
            self._status.value = text
        elif isinstance(update, TaskResult):
            self._add_result(tasks[update.index], update.data)
            self._viewer.layers.selection.update(s for s in sources if s in self._viewer.layers)

    def _add_result(self, task: SRTask, data) -> None:
        from ._sr_layers import map_contrast_limits

        kwargs = dict(task.layer_kwargs)
        if task.out is not None:
            data = _open_result(task.out)
        first = data[0] if isinstance(data, list) else data
        kwargs["contrast_limits"] = map_contrast_limits(
            kwargs["contrast_limits"], task.src_dtype, first.dtype
        )
        self._viewer.add_image(data, multiscale=isinstance(data, list), **kwargs)

    def _on_error(self, err: Exception) -> None:
        if isinstance(err, Cancelled):
            self._done("cancelled")
            return
        if isinstance(err, USER_ERRORS):
            msg = f"Super-resolve: {err}"
        else:
            log.error("Super-resolve failed", exc_info=err)
            msg = f"Super-resolve failed ({type(err).__name__}): {err}"
        self._done(msg)
        show_error(msg)

    def _done(self, message: str) -> None:
        self._status.value = message

    def _on_finished(self) -> None:
        if self._pbar is not None:
            self._pbar.close()
        self._pbar = None
        self._worker = None
        self._stop = None
        self._run_btn.enabled = True
        self._cancel_btn.enabled = False

    def cancel(self, _=None) -> None:
        """Stop at the next tile: finished layers stay, the current one is dropped."""
        if self._stop is not None:
            self._stop.set()
        if self._worker is not None:
            self._worker.quit()

    def _teardown(self, *_) -> None:
        self.cancel()
        self._registry.disconnect(self._refresh_models)

    def _tooltips(self) -> None:
        self._layers.tooltip = "Image layers to super-resolve (follows the layer selection)"
        self._tile.tooltip = "Tile edge in input pixels; smaller tiles use less memory"
        self._halo.tooltip = "Overlap around each tile in input pixels (auto: the model's reach)"
        self._device.tooltip = "auto uses a GPU when one is available"
        self._precision.tooltip = "bf16/fp16 are faster on GPUs, slightly less exact"
        self._out_path.tooltip = (
            "Folder to write (.ome.zarr); with several layers each gets _<layer name> appended"
        )


def _open_result(path):
    """The OME-Zarr result as a list of lazy pyramid levels (or one lazy array)."""
    from napari_sisr.core.io import open_lazy

    levels = [open_lazy(path, 0)]
    while True:
        try:
            levels.append(open_lazy(path, len(levels)))
        except ValueError:
            break
    return levels if len(levels) > 1 else levels[0]
