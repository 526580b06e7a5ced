"""`napari-sisr models` and the default model of `napari-sisr predict`."""

import json

import pytest

from napari_sisr.cli import main
from napari_sisr.cli_models import DEFAULT_MODEL
from napari_sisr.core.modelio import bundled_models


def test_models_lists_every_bundled_model(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in bundled_models():
        assert name in out


def test_models_unknown_name_is_a_clear_error(capsys):
    assert main(["models", "no-such-model"]) == 2
    assert "no bundled model 'no-such-model'" in capsys.readouterr().err


@pytest.mark.skipif(DEFAULT_MODEL not in bundled_models(), reason="no bundled default model")
def test_default_model_card_is_complete(capsys):
    assert main(["models", DEFAULT_MODEL]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["scale"] == 4 and card["in_channels"] == 1
    assert card["normalization"]["mode"] == "percentile"
    assert card["training"] and card["validation"]
