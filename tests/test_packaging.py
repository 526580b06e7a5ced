"""The npe2 manifest validates, and a built wheel ships it as a real file."""

from __future__ import annotations

import importlib
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

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


def _build_wheel(tmp_path) -> Path:
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
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("wheel"))


def test_wheel_ships_the_manifest_as_a_file(wheel):
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


#: Packages the tests install that the package itself does not need: the installed wheel must
#: run without them.
TEST_ONLY = ("matplotlib", "pytest", "hypothesis", "ome_zarr", "bioimageio.core", "skimage.data")


def test_installed_wheel_runs_the_demo_and_predict(wheel, tmp_path, nuclei):
    """The wheel, installed into a fresh virtual environment (its dependencies taken from
    this one, the test-only packages hidden, no shared data folder), runs the demo on its own
    sample images and ``napari-sisr predict``."""
    import os
    import site
    import venv

    import tifffile

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    out = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q",
         str(wheel)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # this environment's packages as a plain path entry: its editable napari_sisr (a .pth
    # file there) is not seen, the wheel's copy is
    (Path(purelib) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in TEST_ONLY)
    )
    env = {k: v for k, v in os.environ.items() if k != "NAPARI_SISR_DATA"}
    env["PYTHONPATH"] = str(block)
    work = tmp_path / "work"  # no ../shared/data from here
    work.mkdir()
    where = subprocess.run(
        [str(py), "-c", "import napari_sisr; print(napari_sisr.__file__)"],
        capture_output=True, text=True, env=env, cwd=work,
    )  # fmt: skip
    assert where.returncode == 0 and where.stdout.startswith(purelib), where
    demo = subprocess.run(
        [str(py), "-m", "napari_sisr.demo", "--out", "out"],
        capture_output=True, text=True, env=env, cwd=work, timeout=600,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-3000:]
    assert "package's own samples" in demo.stdout
    for name in ("demo_fit.png", "demo_sr.png", "fit_simulated.json", "fit_tirf_storm.json"):
        assert (work / "out" / name).is_file(), name
    tifffile.imwrite(work / "in.tif", nuclei[:64, :80])
    cli = subprocess.run(
        [str(env_dir / "bin" / "napari-sisr"), "predict", "in.tif", "-o", "sr.tif",
         "--model", "default-2x", "-q"],
        capture_output=True, text=True, env=env, cwd=work,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert tifffile.imread(work / "sr.tif").shape == (128, 160)


def test_the_sdist_carries_what_its_tests_need(tmp_path):
    """The source distribution holds the tests' fixtures and data, not only the test files."""
    import tarfile

    out = subprocess.run(
        [sys.executable, "-c",
         f"from setuptools import build_meta as b; print(b.build_sdist({str(tmp_path)!r}))"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    (sdist,) = tmp_path.glob("napari_sisr-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("tests/conftest.py", "tests/data/nuclei_dsb2018.tif", "tests/test_demo.py",
                   "src/napari_sisr/models/default-4x.safetensors"):  # fmt: skip
        assert needed in names, needed
