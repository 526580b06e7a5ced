"""Which models the widgets offer, and a cache of loaded ones.

:class:`ModelRegistry` is the application-level list of model files the widgets know about:
the bundled models plus every file registered with :func:`register_model` (the Train widget
registers each model it saves; "Browse..." in the Super-resolve widget registers the chosen
file). It holds *paths*, never results or networks, and is shared by all viewers, so it lives
in one small object rather than on a widget. The list is kept in a JSON file in the user's
config folder (``NAPARI_SISR_CONFIG_DIR`` overrides it), so trained models stay listed after a
restart; paths whose files were deleted are dropped when listed.

:class:`ModelCache` keeps loaded networks so a second click does not rebuild the model. Each
widget owns its own cache.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import threading
import weakref
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from napari_sisr.core.modelio import bundled_models, read_model_meta, resolve_model_path

from ._settings import config_dir, plugin_defaults

log = logging.getLogger(__name__)

REGISTRY_FILE = "models.json"


class ModelRegistry:
    """Bundled models plus user-registered model files, persisted as a JSON list of paths.

    Parameters
    ----------
    store : path-like, optional
        JSON file holding the registered paths; ``None`` keeps them in memory only.
    """

    def __init__(self, store: str | os.PathLike | None = None) -> None:
        self.store = Path(store) if store is not None else None
        self._paths: list[Path] = []
        self._listeners: list[Callable[[], Callable[[], None] | None]] = []
        self._lock = threading.Lock()
        if self.store is not None and self.store.exists():
            try:
                saved = json.loads(self.store.read_text(encoding="utf-8"))
                self._paths = [Path(p) for p in saved.get("models", [])]
            except (OSError, ValueError, AttributeError) as err:
                log.warning("ignoring unreadable model list %s: %s", self.store, err)

    def register(self, path: str | os.PathLike) -> Path:
        """Add a model file (``.json``, ``.safetensors`` or its stem) and return its JSON path.

        Raises
        ------
        FileNotFoundError, ValueError
            If the files are missing or the JSON is not a napari-sisr model config.
        """
        read_model_meta(path)  # validates before anything is stored
        _, meta_path = resolve_model_path(path)
        meta_path = meta_path.resolve()
        with self._lock:
            if meta_path not in self._paths:
                self._paths.append(meta_path)
                self._save()
        self._notify()
        return meta_path

    def forget(self, path: str | os.PathLike) -> None:
        """Remove a registered model (the files are left alone)."""
        _, meta_path = resolve_model_path(path)
        with self._lock:
            self._paths = [p for p in self._paths if p != meta_path.resolve()]
            self._save()
        self._notify()

    def available(self, folder: str | os.PathLike | None = None) -> dict[str, str]:
        """Menu label -> model reference (a bundled name or a JSON path), bundled first, then
        the registered files, then the models in ``folder`` (default: the ``models_folder``
        plugin setting)."""
        out: dict[str, str] = {name: name for name in bundled_models()}
        if folder is None:
            folder = plugin_defaults().models_folder
        for path in [*self._paths, *(p for p in models_in(folder) if p not in self._paths)]:
            package = path.suffix.lower() == ".zip"  # another tool's bioimage.io package
            if not (path.exists() and (package or path.with_suffix(".safetensors").exists())):
                continue
            label = model_label(path)
            while label in out and out[label] != str(path):
                label += "'"
            out[label] = str(path)
        return out

    def is_registered(self, ref: str) -> bool:
        """Whether ``ref`` is a registered model file (not a bundled model)."""
        return ref is not None and Path(str(ref)) in self._paths

    def connect(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever the list changes (e.g. to refresh a menu).

        Bound methods are held weakly, so a listening widget can be garbage-collected.
        Changes are announced in the thread that makes them: register from the GUI thread.
        """
        ref = weakref.WeakMethod(callback) if inspect.ismethod(callback) else (lambda: callback)
        self._listeners.append(ref)

    def disconnect(self, callback: Callable[[], None]) -> None:
        self._listeners = [r for r in self._listeners if r() not in (None, callback)]

    def _notify(self) -> None:
        alive = []
        for ref in list(self._listeners):
            callback = ref()
            if callback is None:
                continue
            try:
                callback()
            except RuntimeError:  # its Qt widget was deleted
                continue
            alive.append(ref)
        self._listeners = alive

    def _save(self) -> None:
        if self.store is None:
            return
        from napari_sisr.core.io.atomic import atomic_write_text

        try:
            self.store.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps({"models": [str(p) for p in self._paths]}, indent=2)
            atomic_write_text(self.store, text + "\n")
        except OSError as err:  # a read-only home must not break the widgets
            log.warning("could not save the model list to %s: %s", self.store, err)


def models_in(folder: str | os.PathLike | None) -> list[Path]:
    """Model JSON files in ``folder`` and its direct subfolders (training runs), sorted;
    files that are not napari-sisr models are passed over."""
    if not folder:
        return []
    root = Path(folder).expanduser()
    if not root.is_dir():
        return []
    found = []
    for path in sorted([*root.glob("*.json"), *root.glob("*/*.json")]):
        if not path.with_suffix(".safetensors").exists():
            continue
        try:
            read_model_meta(path)
        except (OSError, ValueError):
            continue
        found.append(path.resolve())
    return found


def model_label(path: Path) -> str:
    """A trained model as a menu shows it: its run's name and its validation gain."""
    name = path.parent.name if path.stem in ("model", "model_best", "model_last") else path.stem
    try:
        val = read_model_meta(path).get("validation") or {}
        gain = float(val["psnr"]) - float(val["psnr_bicubic"])
    except (KeyError, TypeError, ValueError, OSError):
        return name
    return f"{name} ({gain:+.2f} dB vs bicubic)"


@lru_cache(maxsize=1)
def default_registry() -> ModelRegistry:
    """The registry shared by all widgets (created on first use)."""
    return ModelRegistry(config_dir() / REGISTRY_FILE)


def register_model(path: str | os.PathLike) -> Path:
    """Make a saved model appear in the widgets' model menus; returns its JSON path."""
    return default_registry().register(path)


def available_models() -> dict[str, str]:
    """Menu label -> model reference (bundled name or JSON path) of every known model."""
    return default_registry().available()


class ModelCache:
    """Loaded networks keyed by model file, its modification time and the device.

    Holds at most ``size`` networks; loading is serialised so two workers never load the
    same model twice.
    """

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._nets: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(ref: str, device: str) -> tuple:
        weights, meta = resolve_model_path(ref)
        return (str(meta.resolve()), weights.stat().st_mtime_ns, meta.stat().st_mtime_ns, device)

    def holds(self, ref: str, device: str = "cpu") -> bool:
        """Whether ``ref`` is loaded on ``device`` already (and unchanged on disk)."""
        try:
            key = self._key(ref, device)
        except OSError:
            return False
        with self._lock:
            return key in self._nets

    def get(self, ref: str, device: str = "cpu"):
        """The loaded network for ``ref`` on ``device`` (loaded on first request)."""
        from napari_sisr.core.modelio import load_model

        key = self._key(ref, device)
        with self._lock:
            net = self._nets.pop(key, None)
            if net is None:
                net = load_model(ref, device=device)
            self._nets[key] = net  # most recently used last
            while len(self._nets) > self.size:
                self._nets.pop(next(iter(self._nets)))
            return net

    def __len__(self) -> int:
        return len(self._nets)

    def clear(self) -> None:
        with self._lock:
            self._nets.clear()


def _span(values, unit: str = "", percent: bool = False) -> str:
    """``[1.0, 3.0]`` as ``"1-3"`` (``"0.5-5 %"`` with ``percent``), a number as itself."""
    k = 100.0 if percent else 1.0
    if isinstance(values, list | tuple) and len(values) == 2:
        text = f"{k * float(values[0]):g}-{k * float(values[1]):g}"
    elif isinstance(values, int | float):
        text = f"{k * float(values):.3g}"
    else:
        return ""
    return f"{text} %" if percent else f"{text}{unit}"


def model_card_line(meta: dict[str, Any]) -> str:
    """What a model does and when to use it, in one line, from its config: the scale and
    channels, what it was trained on, its trained range, and the captures it suits."""
    ch = int(meta.get("in_channels", 1))
    what = f"x{meta.get('scale', '?')}, {ch} channel{'s' if ch != 1 else ''}"
    card = meta.get("card") or {}
    on = ", ".join(card.get("modalities") or [])
    on = f" for {on}" if on else ""
    deg = meta.get("degradation") or {}
    sigma, noise = _span(deg.get("sigma"), " HR px"), _span(deg.get("noise_std"), percent=True)
    if str(meta.get("arch", "")).endswith("_da"):
        told = f" (PSF sigma {sigma}, noise {noise} of the range)" if sigma and noise else ""
        return (
            f"{what}{on}; steered by the PSF and noise it is told{told}: use it when the PSF is "
            "known (a fit, beads, the objective's NA); see Degradation"
        )
    if deg.get("mode") == "blind" and sigma:
        return (
            f"{what}{on}; trained blind on PSF sigma {sigma}, noise {noise} of the range: for "
            "captures whose PSF is not known and lies in that range"
        )
    if sigma:
        return (
            f"{what}; trained for one degradation (PSF sigma {sigma}): for captures of the "
            "microscope it was fitted to"
        )
    return f"{what}, {meta.get('arch', 'unknown architecture')}"
