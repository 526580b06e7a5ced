"""Images unlike a model's training images get a warning (phase contrast, brightfield)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_sisr import iter_predict
from napari_sisr.core.inference.domain import domain_warning, image_statistics
from napari_sisr.core.modelio import read_model_meta
from napari_sisr.core.progress import run_to_end


def _binned(img: np.ndarray, k: int = 4) -> np.ndarray:
    h, w = img.shape[0] // k * k, img.shape[1] // k * k
    return img[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))


@pytest.fixture(scope="module")
def phase():
    """A real quantitative phase image (skimage, CC0) binned 4 x 4 with a little noise."""
    from skimage.data import cell

    lr = _binned(cell().astype(np.float64))
    return lr + np.random.default_rng(0).normal(0, 0.01 * np.ptp(lr), lr.shape)


def _warnings(image, model="default-4x"):
    updates = []
    run_to_end(iter_predict(image.astype(np.float32), model, tile=64), updates.append)
    return updates[0].warnings


def test_phase_contrast_is_flagged_for_a_fluorescence_model(phase):
    (warning,) = _warnings(phase)
    assert "trained on widefield fluorescence and confocal fluorescence images" in warning
    assert "darker than the median" in warning and "bicubic" in warning


def test_fluorescence_is_not_flagged(actin):
    assert _warnings(_binned(actin)[:96, :96]) == ()


def test_dense_nuclei_and_noisy_captures_are_not_flagged(actin, data_dir):
    """A field packed with nuclei has no sparse bright pixels but is fluorescence; a blurred,
    very noisy capture of a sparse field neither."""
    from napari_sisr.core.io.images import read_image, to_gray

    card = read_model_meta("default-4x")["card"]
    dense = to_gray(read_image(data_dir / "fluorescence_2d/nuclei_dapi_confocal.png"))
    assert image_statistics(dense.reshape(-1))["bright"] < 0.01  # what used to trip it
    assert domain_warning(card, image_statistics(dense.reshape(-1))) is None
    from scipy import ndimage

    rng = np.random.default_rng(0)
    blurred = _binned(ndimage.gaussian_filter(actin, 3))
    noisy = blurred + rng.normal(0, 0.05 * np.ptp(actin), blurred.shape)
    assert domain_warning(card, image_statistics(noisy.reshape(-1))) is None


def test_brightfield_is_flagged(data_dir):
    from napari_sisr.core.io.images import read_image, to_gray

    card = read_model_meta("default-4x")["card"]
    bf = to_gray(read_image(data_dir / "brightfield/00000.png"))
    assert "far darker" in domain_warning(card, image_statistics(bf.reshape(-1)))


def test_cli_prints_the_warning_even_when_quiet(phase, tmp_path, capsys):
    import tifffile

    from napari_sisr.cli import main

    tifffile.imwrite(tmp_path / "phase.tif", phase.astype(np.float32))
    rc = main(["predict", str(tmp_path / "phase.tif"), "-o", str(tmp_path / "o.tif"), "-q"])
    assert rc == 0 and "warning: this model was trained on" in capsys.readouterr().err


def test_the_card_holds_what_the_check_needs():
    card = read_model_meta("default-4x")["card"]
    stats = card["input_statistics"]
    assert stats["bright"][0] < stats["bright"][1] and card["modalities"]
    assert domain_warning({}, image_statistics(np.zeros(100))) is None  # no card: no check
    # a trained model's card without modalities still reads as a sentence
    text = domain_warning({"input_statistics": stats}, {"bright": 0.0, "dark": 0.2})
    assert text.startswith("this image looks unlike the images this model was trained on (")
