"""Which weights a run starts from: ``init="auto"`` (the default) and ``--init none``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import torch

from napari_sisr import DegradationParams, TrainConfig
from napari_sisr.core.modelio import load_model
from napari_sisr.core.training import Trainer
from napari_sisr.core.training.start import bundled_start

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def hr(actin):
    return [actin[:200, :200].astype(np.float32)]


def config(hr, tmp_path, scale=4, **kw):
    base = dict(hr=hr, out=tmp_path / "run", patch=64, batch=2, iters=2, ema=None,
                degradation=DegradationParams(scale=scale, sigma=1.5, noise_var=4.0))  # fmt: skip
    return TrainConfig(**{**base, **kw})


def test_bundled_start_per_scale():
    assert bundled_start(2) == "default-2x" and bundled_start(4) == "default-4x"
    assert bundled_start(8) == "default-4x"  # the 4x network grows an x2 stage
    assert bundled_start(3) is None  # a single x3 stage: nothing grows to it


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_a_plain_run_starts_from_the_bundled_model_of_its_scale(hr, tmp_path, scale):
    cfg = config(hr, tmp_path, scale)
    start = bundled_start(scale)
    assert cfg.init == start and cfg.scale == scale
    meta = load_model(start).meta
    assert cfg.arch == meta["arch"] and cfg.arch_overrides == meta["arch_kwargs"]
    net = Trainer(cfg).net_g.state_dict()
    src = load_model(start).state_dict()
    assert all(torch.equal(net[k], v) for k, v in src.items())  # every shared weight
    assert cfg.to_json_dict()["init"] == start  # the run records what it started from


@pytest.mark.parametrize(
    "kw",
    [
        dict(init=None),
        dict(arch_overrides={"n_blocks": 1, "nf": 8}),
        dict(preset="paper"),
        dict(arch="rrdb"),
        dict(channel_axis=0),
        dict(scale=3, patch=48, degradation=DegradationParams(scale=3, sigma=1.0)),
    ],
    ids=["none", "options", "preset", "arch", "channels", "x3"],
)
def test_other_runs_start_from_random_weights(hr, tmp_path, kw):
    assert config(hr, tmp_path, **kw).init is None


def test_paired_runs_start_from_the_bundled_model_too(hr, tmp_path):
    """Training on a registered real pair gains from the bundled start as the chain does."""
    low = hr[0][::4, ::4].copy()
    cfg = TrainConfig(hr=hr, lr_images=[low], scale=4, out=tmp_path / "p", patch=64)
    assert cfg.init == "default-4x"
    net = Trainer(cfg).net_g.state_dict()
    assert all(torch.equal(net[k], v) for k, v in load_model("default-4x").state_dict().items())
    scratch = TrainConfig(hr=hr, lr_images=[low], scale=4, out=tmp_path / "q", init=None)
    assert scratch.init is None


def test_command_line_says_where_it_starts_and_none_means_random(tmp_path, actin, capsys):
    from napari_sisr.cli import build_parser, main
    from napari_sisr.cli.train import build_config

    path = tmp_path / "hr.tif"
    tifffile.imwrite(path, actin[:160, :160].astype(np.float32))
    deg = tmp_path / "deg.json"
    DegradationParams(scale=2, sigma=1.0, noise_var=4.0).save(deg)
    base = ["train", "--hr", str(path), "--degradation", str(deg), "--patch", "32",
            "--batch", "2", "--iters", "2", "--val-every", "2", "--threads", "1", "-q"]  # fmt: skip
    assert build_config(build_parser().parse_args([*base, "--out", "x"])).init == "default-2x"
    scratch = build_parser().parse_args([*base, "--out", "x", "--init", "none"])
    assert build_config(scratch).init is None
    assert build_config(build_parser().parse_args([*base, "--out", "x"])).ema_warmup == 2
    fast = build_parser().parse_args([*base, "--out", "x", "--ema-warmup", "10"])
    assert build_config(fast).ema_warmup == 10  # the average of the bundled models' stages
    assert main([*base, "--out", str(tmp_path / "auto")]) == 0
    assert "starting from the bundled model default-2x" in capsys.readouterr().err
    # a run from random weights resumes from random weights, not from the bundled model
    out = str(tmp_path / "scratch")
    assert main([*base, "--out", out, "--init", "none", "--iters", "1"]) == 0
    assert main([*base, "--out", out, "--resume"]) == 0
    assert load_model(tmp_path / "scratch" / "model.json").meta["arch_kwargs"].get("skip") is None
    # a run saved before ema_warmup existed resumes with the average it had (10), not today's 2
    from napari_sisr.cli.train import _saved_fields

    saved = tmp_path / "auto" / "config.json"
    assert _saved_fields(str(tmp_path / "auto"), TrainConfig)["ema_warmup"] == 2
    old = {k: v for k, v in json.loads(saved.read_text()).items() if k != "ema_warmup"}
    saved.write_text(json.dumps(old))
    assert _saved_fields(str(tmp_path / "auto"), TrainConfig)["ema_warmup"] == 10


def test_the_weight_average_of_a_run_from_a_model_counts_every_step_alike(hr, tmp_path):
    # from a trained model, content only: a uniform average; from random weights or with the
    # adversarial phase: the fast-forgetting ramp; a stated value is kept
    assert config(hr, tmp_path, ema=0.999).ema_warmup == 2
    assert config(hr, tmp_path, ema=0.999, init=None).ema_warmup == 10
    gan = config(hr, tmp_path, ema=0.999, adversarial=True, warmup=1, patch=64)
    assert gan.init is not None and gan.ema_warmup == 10
    assert config(hr, tmp_path, ema=0.999, ema_warmup=5).ema_warmup == 5
    with pytest.raises(ValueError, match="ema_warmup"):
        config(hr, tmp_path, ema_warmup=1)


def test_a_uniform_weight_average_is_the_mean_of_the_start_and_every_step():
    from napari_sisr.core.training.ema import EMA

    net = torch.nn.Linear(3, 1)
    start = net.weight.detach().clone()
    ema = EMA(net, decay=0.999, warmup=2)
    seen = [start]
    for k in range(5):
        with torch.no_grad():
            net.weight.add_(float(k + 1))
        seen.append(net.weight.detach().clone())
        ema.update(net)
    torch.testing.assert_close(ema.net.weight, torch.stack(seen).mean(0))
    fast = EMA(torch.nn.Linear(3, 1), decay=0.999)  # the ramp from random weights: 10
    assert fast.current_decay() == pytest.approx(0.1)
    with pytest.raises(ValueError, match="above 1"):
        EMA(net, decay=0.999, warmup=1)
