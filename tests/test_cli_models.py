"""`napari-sisr models` and the default model of `napari-sisr predict`."""

import json

import pytest

from napari_sisr.cli import main
from napari_sisr.cli.models import DEFAULT_MODEL
from napari_sisr.core.modelio import bundled_models


def test_models_lists_every_bundled_model(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in bundled_models():
        assert name in out
    # the gain it quotes says what it was measured on, and how to measure one's own
    line = next(x for x in out.splitlines() if x.startswith("aware-2x:"))
    assert "simulated held-out captures" in line and "told the truth" in line
    assert "napari-sisr evaluate MODEL LR HR" in out


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


@pytest.mark.parametrize("name", sorted(bundled_models()))
def test_bundled_models_were_not_trained_on_their_benchmark_images(name):
    meta = json.loads(bundled_models()[name].read_text())
    held_out = [
        p.rsplit("/", 1)[-1].rsplit(".", 1)[0] for p in meta["benchmark"]["held_out"]["images"]
    ]
    split = meta["validation"]["split"]
    seen = split["train"] + split["val"]
    assert held_out and seen
    for stem in held_out:
        assert not any(t.startswith(stem) for t in seen), f"{stem} was used in training"
