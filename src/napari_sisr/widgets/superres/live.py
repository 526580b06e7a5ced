"""Live preview for the Super-resolve widget: only the region in view, refreshed on pan/zoom.

The first refresh builds the lazy result of the whole layer (:func:`napari_sisr.predict`:
global intensity statistics, the same tile plan as a full run) in a worker; every refresh then
computes just the window in view from it, so the preview equals the matching part of a full
run, pixel for pixel. Refreshes are debounced and run one at a time; a newer view supersedes
a running one. The preview is one layer, ``"<name> x<s> SR (live)"``, updated in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, Container, Label

from ...core.errors import InputError
from .._jobs import JobRunner
from .._layers import level0, viewer_camera
from .job import SRSettings, snapshot
from .layers import map_contrast_limits, sr_layer_kwargs

if TYPE_CHECKING:  # pragma: no cover
    from .state import SuperResolveState

#: Largest view side (input pixels) that is previewed; zoom in beyond it.
MAX_SIDE = 768
DEBOUNCE_MS = 300


def preview_job(source, settings: SRSettings, cache, lazy, region, *, stop=None):
    """Worker job: build the whole layer's lazy result once, compute one window of it."""
    from ...core.devices import pick_device
    from ...core.inference.predict import prepare
    from ...core.progress import Progress, as_stop, check_stop

    yield Progress(0, 2, "preparing")
    if lazy is None:
        net = cache.get(settings.model, pick_device(settings.config.device))
        job = prepare(source, net, settings.config)
        lazy = (job.lazy, tuple(job.notes))
    check_stop(as_stop(stop))
    yield Progress(1, 2, "computing the view")
    return lazy, np.asarray(lazy[0][region])


class LivePreview(Container):
    """*Live preview* checkbox and status line of a Super-resolve widget: redraws when the
    view moves or the state says a setting changed, and says what the model was told."""

    def __init__(self, state: SuperResolveState) -> None:
        self.state = state
        self.enabled_box = CheckBox(text="Live preview of the view", value=False, name="live")
        self.status = Label(value="", name="live_status")
        super().__init__(widgets=[self.enabled_box, self.status], labels=False)
        self.margins = (0, 0, 0, 0)
        self.enabled_box.tooltip = (
            "Super-resolve only the part of the first chosen layer in view, refreshed as you "
            f"pan and zoom (views up to {MAX_SIDE} px a side)"
        )
        self.runner = JobRunner(activity=False, announce=False, status=None)
        self.runner.bind_lifetime(self.native)
        self._lazy: tuple[tuple, Any] | None = None  # (key, lazy result of the whole layer)
        self._pending = False
        self._shown: str | None = None  # name of the preview layer
        from qtpy.QtCore import QTimer

        self._timer = QTimer(self.native)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.refresh)
        self.enabled_box.changed.connect(self._toggled)
        state.settings_changed.connect(self.schedule)
        viewer = state.viewer
        camera = viewer_camera(viewer)
        camera.events.center.connect(self.schedule)
        camera.events.zoom.connect(self.schedule)
        viewer.dims.events.current_step.connect(self.schedule)

    @property
    def active(self) -> bool:
        return bool(self.enabled_box.value)

    def schedule(self, *_) -> None:
        """Refresh after the view has been still for a moment."""
        if self.active:
            self._timer.start()

    def _toggled(self, on: bool) -> None:
        if on:
            self.schedule()
            return
        self._timer.stop()
        self.runner.cancel()
        self._lazy = None
        if self._shown is not None and self._shown in self.state.viewer.layers:
            self.state.viewer.layers.remove(self._shown)
        self._shown = None
        self.status.value = ""

    def _source(self):
        layers = self.state.chosen_layers()
        return layers[0] if layers else None

    def refresh(self) -> None:
        """Start computing the current view (or queue it behind the running one)."""
        if not self.active:
            return
        if self.runner.busy:
            self._pending = True
            return
        layer = self._source()
        if layer is None:
            self.status.value = "choose a layer"
            return
        try:
            settings = self.state.settings()
            region = visible_region(layer, self.state.viewer, settings.scale)
        except InputError as err:
            self.status.value = str(err)
            return
        kwargs = sr_layer_kwargs(layer, settings.scale, level0(layer).dtype, model=settings.model)
        name = f"{kwargs['name']} (live)"
        # The cached result belongs to this very data object (held, so never confused with a
        # new array at a recycled address) and these settings; new data drops it.
        key = (layer.data, settings.model, settings.config, name)
        layer.events.data.connect(self._forget)
        lazy = self._lazy[1] if self._lazy is not None and _same(self._lazy[0], key) else None
        start = [sl.start for sl in region[: layer.ndim]]
        self.status.value = "computing the view..."
        self.runner.start(
            preview_job,
            snapshot(layer),
            settings,
            self.state.cache,
            lazy,
            region,
            on_done=lambda out: self._show(out, key, name, kwargs, start),
            on_finished=self._finished,
            description="Live preview",
        )

    def _forget(self, *_) -> None:
        """The layer's data changed: the next refresh rebuilds the lazy result."""
        self._lazy = None

    def _finished(self, state: str) -> None:
        if state == "failed":
            self.status.value = "preview failed (see the notification)"
        if self._pending:
            self._pending = False
            self.schedule()

    def _show(self, out, key, name: str, kwargs: dict, start: list[int]) -> None:
        (lazy, notes), window = out
        self._lazy = (key, (lazy, notes))
        if not self.active:
            return
        self.state.told.emit(list(notes))
        s = self.state.viewer.layers
        if self._shown is not None and self._shown != name and self._shown in s:
            s.remove(self._shown)  # the source or model changed
        self._shown = name
        linear = _linear(kwargs)
        translate = kwargs["translate"] + linear @ (kwargs["scale"] * np.asarray(start, float))
        limits = map_contrast_limits(kwargs["contrast_limits"], lazy.dtype, window.dtype)
        if name in s and s[name].data.ndim == window.ndim:
            layer = s[name]
            layer.data = window
            layer.translate = translate
        else:
            if name in s:
                s.remove(name)
            extra = {k: v for k, v in kwargs.items() if k not in ("name", "translate")}
            extra["contrast_limits"] = limits
            extra["metadata"] = {"napari_sisr": {**kwargs["metadata"]["napari_sisr"], "live": True}}
            with self.state.keeping_selection():
                self.state.viewer.add_image(window, name=name, translate=translate, **extra)
        h, w = window.shape[-3:-1] if kwargs["rgb"] else window.shape[-2:]
        self.status.value = f"preview: {h} x {w} px"


def _same(a: tuple, b: tuple) -> bool:
    """Cache keys match: the same data object, equal settings."""
    return a[0] is b[0] and a[1:] == b[1:]


def _linear(kwargs: dict) -> np.ndarray:
    from napari.utils.transforms import Affine

    ndim = len(kwargs["scale"])
    return Affine(rotate=kwargs.get("rotate"), shear=kwargs.get("shear"), ndim=ndim).linear_matrix


def visible_region(layer, viewer, s: int) -> tuple[slice, ...]:
    """Slices of the layer's *result* (``s`` times finer in Y, X) covering the view.

    Leading axes give the plane at the dims position; Y and X the part of the layer in view
    (``layer.corner_pixels``, level-0 pixels). Raises :class:`InputError` when there is nothing to
    preview (3D display, view outside the layer, view too large).
    """
    if viewer.dims.ndisplay != 2:
        raise InputError("live preview works in 2D display")
    shape = level0(layer).shape[: layer.ndim]
    corners = np.asarray(layer.corner_pixels, dtype=float)
    if layer.multiscale:
        corners = corners * np.asarray(layer.downsample_factors[layer.data_level])
    lo = np.clip(np.floor(corners[0, -2:]).astype(int), 0, np.array(shape[-2:]) - 1)
    hi = np.clip(np.ceil(corners[1, -2:]).astype(int) + 1, 1, np.array(shape[-2:]))
    if np.any(hi <= lo):
        raise InputError("the layer is not in view")
    if np.any(hi - lo > MAX_SIDE):
        raise InputError(
            f"zoom in: the view is {hi[0] - lo[0]} x {hi[1] - lo[1]} px "
            f"(preview up to {MAX_SIDE} px a side)"
        )
    pos = layer.world_to_data(viewer.dims.point)
    region = []
    for axis in range(layer.ndim - 2):
        i = int(round(float(pos[axis])))
        if not 0 <= i < shape[axis]:
            raise InputError("the dims position is outside the layer")
        region.append(slice(i, i + 1))
    region += [slice(int(lo[0]) * s, int(hi[0]) * s), slice(int(lo[1]) * s, int(hi[1]) * s)]
    if layer.rgb:
        region.append(slice(None))
    return tuple(region)
