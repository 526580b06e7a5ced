"""The npe2 manifest validates, and a built wheel ships it as a real file."""

from __future__ import annotations

import importlib
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "napari.yaml"


def test_manifest_validates_with_npe2():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_file(MANIFEST)
    assert manifest.name == "napari-sisr"
    assert "Fit degradation" in {w.display_name for w in manifest.contributions.widgets}
    out = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", str(MANIFEST)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_manifest_found_through_the_package():
    # The entry point names "napari_sisr:napari.yaml": the file inside the package must be the
    # repository's manifest (a symlink in the source tree).
    import napari_sisr

    packaged = Path(napari_sisr.__file__).parent / "napari.yaml"
    assert packaged.read_text() == MANIFEST.read_text()


def test_manifest_python_names_resolve():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_file(MANIFEST)
    for cmd in manifest.contributions.commands:
        module, _, attr = cmd.python_name.partition(":")
        # a missing module is the failure this test exists to catch: no skip
        mod = importlib.import_module(module)
        assert hasattr(mod, attr), f"{cmd.python_name} does not exist"


def test_wheel_ships_the_manifest_as_a_file(tmp_path):
    src = tmp_path / "src_copy"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "napari.yaml"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(
        REPO / "src",
        src / "src",
        symlinks=True,
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    assert (src / "src" / "napari_sisr" / "napari.yaml").is_symlink()
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist")],
        cwd=src,
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (wheel,) = (tmp_path / "dist").glob("napari_sisr-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        info = zf.getinfo("napari_sisr/napari.yaml")
        mode = info.external_attr >> 16
        assert stat.S_ISREG(mode) and not stat.S_ISLNK(mode)
        assert zf.read(info).decode() == MANIFEST.read_text()
        names = set(zf.namelist())
        for base in ("models/aware-2x", "models/default-4x", "models/estimators/sigma"):
            for suffix in (".safetensors", ".json"):  # weights and card, for every loader
                assert f"napari_sisr/{base}{suffix}" in names, base + suffix
        (eps,) = [n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")]
        text = zf.read(eps).decode()
    assert "[napari.manifest]" in text and "napari-sisr = napari_sisr:napari.yaml" in text
    assert "napari-sisr = napari_sisr.cli:main" in text


def test_tests_and_demo_run_on_a_qt_binding_napari_supports():
    """napari 0.9 deprecates PyQt5 (a warning on every start): the testing extra installs
    PyQt6, and qtpy must pick it."""
    qtpy = __import__("qtpy")
    assert qtpy.API_NAME in ("PyQt6", "PySide6"), qtpy.API_NAME
    text = (REPO / "pyproject.toml").read_text()
    assert "pyqt5" not in text.lower()
