"""The plugin's user settings: defaults of the Super-resolve widget and a folder of models.

In napari 0.9 and later they are napari plugin settings, declared in the manifest under
``contributions.configurations`` (napari shows them under *File > Preferences*, and saves them
beside its own settings). Older napari has no plugin settings: there the same keys are read
from ``settings.json`` in the plugin's config folder (``NAPARI_SISR_CONFIG_DIR`` moves it).
Values that do not validate fall back to core's defaults, with a logged warning.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PLUGIN = "napari-sisr"
GROUP = "superresolve"  # the configuration key in napari.yaml
SETTINGS_FILE = "settings.json"


@dataclass(frozen=True)
class PluginDefaults:
    """What a new Super-resolve widget starts with, and where extra models are listed from."""

    device: str = "auto"
    engine: str = "auto"
    precision: str = "auto"
    tile: int = 0  # 0: core's DEFAULT_TILE
    models_folder: str = ""

    def checked(self) -> PluginDefaults:
        """These values where core accepts them, core's defaults elsewhere."""
        from ..core.inference.config import DEFAULT_TILE, PredictConfig

        good: dict[str, Any] = {}
        for name in ("device", "engine", "precision", "tile"):
            value = getattr(self, name)
            if name == "tile" and not value:
                good[name] = DEFAULT_TILE
                continue
            try:
                PredictConfig(**{name: value})
                good[name] = value
            except ValueError as err:
                log.warning("ignoring the setting %s=%r: %s", name, value, err)
        folder = str(self.models_folder or "")
        if folder and not Path(folder).expanduser().is_dir():
            log.warning("ignoring the setting models_folder=%r: not a folder", folder)
            folder = ""
        default = PluginDefaults(tile=DEFAULT_TILE)
        return PluginDefaults(**{**default.__dict__, **good, "models_folder": folder})


def _from_napari() -> dict[str, Any] | None:
    """The values napari's plugin settings hold, or None where napari has none."""
    try:
        from napari.settings import get_plugin_settings
    except ImportError:  # napari before 0.9
        return None
    try:
        group = getattr(get_plugin_settings(PLUGIN), GROUP)
    except Exception as err:  # noqa: BLE001 - not registered (e.g. not installed): fall back
        log.debug("napari plugin settings unavailable: %s", err)
        return None
    return {
        f.name: getattr(group, f.name) for f in fields(PluginDefaults) if hasattr(group, f.name)
    }


def config_dir() -> Path:
    """The plugin's config folder (``NAPARI_SISR_CONFIG_DIR`` moves it)."""
    env = os.environ.get("NAPARI_SISR_CONFIG_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("napari-sisr", appauthor=False))


def _from_file() -> dict[str, Any]:
    path = config_dir() / SETTINGS_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        log.warning("ignoring unreadable settings file %s: %s", path, err)
        return {}
    if not isinstance(data, dict):
        log.warning("ignoring settings file %s: not a JSON object", path)
        return {}
    known = {f.name for f in fields(PluginDefaults)}
    return {k: v for k, v in data.items() if k in known}


def plugin_defaults() -> PluginDefaults:
    """The user's settings (napari's plugin settings, else ``settings.json``), checked."""
    values = _from_napari()
    if values is None:
        values = _from_file()
    try:
        raw = PluginDefaults(**values)
    except TypeError as err:  # pragma: no cover - keys are filtered above
        log.warning("ignoring the plugin settings: %s", err)
        raw = PluginDefaults()
    return raw.checked()
