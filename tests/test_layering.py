"""napari_sisr.core must stay headless: no Qt, napari or magicgui."""

import subprocess
import sys

CODE = """
import sys
import napari_sisr, napari_sisr.core
import napari_sisr.core.degradation.params, napari_sisr.core.degradation.simulate
import napari_sisr.core.degradation.fit, napari_sisr.core.degradation.unpaired
import napari_sisr.core.io.images, napari_sisr.core.progress
import napari_sisr.cli
import pkgutil, importlib
for m in pkgutil.walk_packages(napari_sisr.core.__path__, "napari_sisr.core."):
    importlib.import_module(m.name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in {"qtpy", "napari", "magicgui",
             "PyQt5", "PyQt6", "PySide2", "PySide6", "vispy"})
print(",".join(bad))
"""


def test_core_imports_no_gui_modules():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core imported GUI modules: {out.stdout}"


def test_gui_check_detects_napari():
    # The same probe sees napari once something imports it, so the test above can fail.
    code = CODE.replace("import napari_sisr.cli", "import napari_sisr.cli, magicgui")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "magicgui" in out.stdout


HELP = """
import sys
from napari_sisr.cli import main
for argv in {argvs!r}:
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code in (0, 2), exc.code
print("torch" in sys.modules)
"""


def test_help_and_argument_errors_do_not_import_torch():
    """``--help`` of every command and an argument error answer without importing torch
    (it took seconds of the 6 s ``napari-sisr --help`` used to take)."""
    from napari_sisr.cli import SUBCOMMANDS

    names = [m.__name__.rsplit(".", 1)[-1].replace("_", "-") for m in SUBCOMMANDS]
    argvs = [["--help"], *[[n, "--help"] for n in names], ["predict"], ["fit", "a", "b"]]
    out = subprocess.run(
        [sys.executable, "-c", HELP.format(argvs=argvs)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False", "torch was imported"


def test_the_torch_probe_sees_torch():
    code = HELP.format(argvs=[["--help"]]).replace("print(", "import torch\nprint(")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "True"
