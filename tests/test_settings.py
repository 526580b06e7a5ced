"""Plugin settings: napari's own mechanism (manifest configurations) with a JSON fallback."""

from __future__ import annotations

import json
import shutil

import pytest
from npe2 import PluginManifest

from napari_sisr.core.inference.config import DEFAULT_TILE
from napari_sisr.widgets import _settings
from napari_sisr.widgets._models import ModelRegistry, models_in
from napari_sisr.widgets._settings import PluginDefaults, plugin_defaults


@pytest.fixture
def our_settings(request, npe2pm):
    """napari's plugin settings of this plugin only, saved under the test's tmp_path."""
    try:
        request.getfixturevalue("plugin_settings")
    except pytest.FixtureLookupError:  # napari before plugin settings: the fallback serves
        pytest.skip("this napari has no plugin settings (the JSON fallback is tested below)")
    if "napari-sisr" not in npe2pm:
        npe2pm.register(PluginManifest.from_distribution("napari-sisr"))
    from napari.settings import get_plugin_settings

    return get_plugin_settings("napari-sisr").superresolve


def test_manifest_declares_the_settings_and_napari_saves_them(our_settings):
    assert our_settings.tile == 0 and our_settings.engine == "auto"
    assert plugin_defaults() == PluginDefaults(tile=DEFAULT_TILE)
    our_settings.tile = 512
    our_settings.precision = "fp32"
    assert plugin_defaults().tile == 512 and plugin_defaults().precision == "fp32"


def test_super_resolve_widget_starts_from_the_settings(
    our_settings, make_napari_viewer, private_model_registry
):
    from napari_sisr.widgets.superres.widget import SuperResolveWidget

    our_settings.tile = 384
    our_settings.precision = "fp32"
    our_settings.device = "cuda"  # not on this machine: the widget keeps auto
    widget = SuperResolveWidget(make_napari_viewer())
    assert widget.tile.value == 384
    assert widget.precision.value == "fp32"
    assert widget.device.value in ("auto", "cuda")
    assert widget.settings().config.tile == 384


def test_fallback_file_where_napari_has_no_plugin_settings(tmp_path, monkeypatch):
    monkeypatch.setattr(_settings, "_from_napari", lambda: None)
    monkeypatch.setenv("NAPARI_SISR_CONFIG_DIR", str(tmp_path))
    assert plugin_defaults() == PluginDefaults(tile=DEFAULT_TILE)
    (tmp_path / "settings.json").write_text(json.dumps({"tile": 128, "engine": "torch"}))
    assert plugin_defaults().tile == 128 and plugin_defaults().engine == "torch"
    # bad values fall back to the defaults one by one, never break the widgets
    bad = {"tile": 3, "engine": "warp-drive", "precision": "fp32", "models_folder": "/nope"}
    (tmp_path / "settings.json").write_text(json.dumps(bad))
    got = plugin_defaults()
    assert (got.tile, got.engine, got.precision, got.models_folder) == (
        DEFAULT_TILE,
        "auto",
        "fp32",
        "",
    )
    (tmp_path / "settings.json").write_text("{not json")
    assert plugin_defaults() == PluginDefaults(tile=DEFAULT_TILE)


def test_models_folder_lists_trained_models(tmp_path):
    from napari_sisr.core.modelio import resolve_model_path

    weights, meta = resolve_model_path("default-2x")
    run = tmp_path / "models" / "run-a"
    run.mkdir(parents=True)
    shutil.copy(weights, run / "model.safetensors")
    shutil.copy(meta, run / "model.json")
    (tmp_path / "models" / "notes.json").write_text("{}")  # not a model: passed over
    found = models_in(tmp_path / "models")
    assert found == [(run / "model.json").resolve()]
    menu = ModelRegistry(None).available(folder=tmp_path / "models")
    assert str((run / "model.json").resolve()) in menu.values()
    assert "default-4x" in menu  # bundled models stay first
    assert models_in(tmp_path / "missing") == [] and models_in("") == []


def test_the_manifests_tile_bound_is_the_cores():
    """napari's settings dialog takes the tile range from the manifest, which cannot import
    core/limits.py: the two must agree (they did not: 8192 against 16384)."""
    from pathlib import Path

    import yaml

    from napari_sisr.core.limits import MAX_TILE

    manifest = Path(_settings.__file__).parents[1] / "napari.yaml"
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "tile" in node and isinstance(node["tile"], dict) and "maximum" in node["tile"]:
                found.append(node["tile"]["maximum"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(yaml.safe_load(manifest.read_text(encoding="utf-8")))
    assert found == [MAX_TILE]
