"""User mistakes are one line; anything else is a bug: logged with its traceback, reported."""

from __future__ import annotations

import numpy as np
import pytest

from napari_sisr.cli import main
from napari_sisr.core.errors import (
    InputError,
    InputNotFoundError,
    InputTypeError,
    describe,
    is_expected,
    log_internal_error,
)


@pytest.fixture
def log_dir(tmp_path, monkeypatch):
    folder = tmp_path / "logs"
    monkeypatch.setenv("NAPARI_SISR_LOG_DIR", str(folder))
    return folder


@pytest.fixture
def pair(tmp_path):
    import tifffile

    rng = np.random.default_rng(0)
    hr = rng.random((128, 128)).astype(np.float32)
    tifffile.imwrite(tmp_path / "hr.tif", hr)
    tifffile.imwrite(tmp_path / "lr.tif", hr.reshape(32, 4, 32, 4).mean(axis=(1, 3)))
    return tmp_path / "hr.tif", tmp_path / "lr.tif"


def test_input_errors_are_also_the_builtin_kinds():
    assert issubclass(InputError, ValueError)
    assert issubclass(InputTypeError, TypeError) and issubclass(InputTypeError, InputError)
    assert issubclass(InputNotFoundError, FileNotFoundError)
    assert is_expected(InputError("x")) and is_expected(PermissionError("denied"))
    assert not is_expected(KeyError("k")) and not is_expected(TypeError("t"))


def test_describe_lists_pydantic_fields():
    from napari_sisr import PredictConfig

    with pytest.raises(ValueError) as info:
        PredictConfig(tile=2, batch=0)
    text = describe(info.value)
    assert "tile:" in text and "batch:" in text and "\n" not in text
    assert is_expected(info.value)


def test_cli_input_error_is_one_line_and_not_logged(pair, log_dir, capsys):
    hr, _ = pair
    assert main(["fit", str(hr), str(hr), "--scale", "4", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("napari-sisr fit: error: ") and len(err.splitlines()) == 1
    assert not log_dir.exists()


def test_cli_bug_is_reported_with_its_logged_traceback(pair, log_dir, capsys, monkeypatch):
    from napari_sisr.core.degradation import pairs

    def broken(*args, **kwargs):
        return {}["no such key"]

    monkeypatch.setattr(pairs, "iter_fit", broken)  # what `fit` runs, through fit_pair
    hr, lr = pair
    assert main(["fit", str(hr), str(lr), "--scale", "4", "-q"]) == 1
    err = capsys.readouterr().err
    assert "internal error (KeyError" in err and "please report" in err
    log = (log_dir / "napari-sisr.log").read_text()
    assert str(log_dir / "napari-sisr.log") in err
    assert "Traceback" in log and "KeyError: 'no such key'" in log and "in broken" in log


def test_widget_messages_tell_input_errors_from_bugs(log_dir):
    from napari_sisr.widgets._jobs import error_message

    assert error_message("Fit", InputError("scale 3 is wrong")) == "Fit failed: scale 3 is wrong"
    assert not log_dir.exists()
    try:
        raise TypeError("unsupported operand")
    except TypeError as err:
        text = error_message("Fit", err)
    assert "internal error (TypeError: unsupported operand)" in text and "please report" in text
    assert "unsupported operand" in (log_dir / "napari-sisr.log").read_text()


def test_log_internal_error_survives_an_unwritable_log(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NAPARI_SISR_LOG_DIR", str(blocker))
    assert log_internal_error(RuntimeError("x"), "job") is None
