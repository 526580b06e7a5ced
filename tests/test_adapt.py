"""Self-supervised adaptation: a degradation-aware model fine-tuned on captures alone (no HR
image), the rule that decides when to adapt, the run folder it writes and its front ends."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_sisr import DegradationParams, adapt, simulate_lr
from napari_sisr.cli import main
from napari_sisr.core.errors import InputError
from napari_sisr.core.modelio import load_model, save_model

RANGES = {"mode": "blind", "sigma": [0.0, 3.0], "noise_std": [0.0, 0.1], "poisson_a": [0.0, 0.0]}
PSF = DegradationParams(scale=2, sigma=1.2, source="fit")
FAST = dict(iters=6, patch=16, batch=2, val_every=3, scale=2)


@pytest.fixture(scope="module")
def aware(tmp_path_factory):
    from test_degradation_aware import steered_net

    folder = tmp_path_factory.mktemp("aware")
    meta = {
        "degradation": RANGES,
        "normalization": {"mode": "percentile", "low": 1.0, "high": 99.8},
    }
    return str(save_model(folder / "aware", steered_net(2), meta))


@pytest.fixture(scope="module")
def captures(actin):
    """A photon-count capture (halves split exactly) and a camera capture of the same field."""
    hr = actin[:256, :256] / actin[:256, :256].max()
    rng = np.random.default_rng(0)
    clean = simulate_lr(hr * 40.0, PSF.updated(noise_var=0.0), noise=False)
    counts = rng.poisson(np.clip(clean, 0, None)).astype(np.float32)
    camera = (100.0 + clean * 20 + rng.normal(0, 2.0, clean.shape)).astype(np.float32)
    return counts, camera


def test_photon_counts_are_adapted_and_the_run_says_so(tmp_path, aware, captures):
    counts, _ = captures
    run = adapt(images=[counts], degradation=PSF, model=aware, out=tmp_path / "run", **FAST)
    assert run.report["adapted"] == (run.best_step > 0)
    assert "photon counts" in run.report["why"]
    assert [s for s, _ in run.val_loss][0] == 0 and len(run.val_loss) >= 2
    for name in ("model.json", "model.safetensors", "log.jsonl", "report.json"):
        assert (tmp_path / "run" / name).exists()
    net = load_model(run.model)
    assert net.meta["steering"]["source"] == "adapted"
    assert net.meta["steering"]["sigma"] == pytest.approx(1.2)
    assert "evidence" in json.loads((tmp_path / "run" / "report.json").read_text())
    from napari_sisr.core.inference.predict import prepare

    job = prepare(counts, str(run.model))
    assert job.steered.tags["sigma"] == "adapted"
    assert "the PSF this model was adapted to" in job.steered.note


def test_an_estimated_noise_inside_the_range_keeps_the_model(tmp_path, aware, captures):
    """Camera noise inside the trained range: the model is kept (as measured on the real
    pairs), its weights unchanged, unless ``always``."""
    _, camera = captures
    run = adapt(images=[camera], degradation=PSF, model=aware, out=tmp_path / "kept", **FAST)
    assert not run.report["adapted"] and "kept as it is" in run.report["why"]
    start, kept = load_model(aware), load_model(run.model)
    for (k, a), b in zip(start.state_dict().items(), kept.state_dict().values(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy()), k
    forced = adapt(images=[camera], degradation=PSF, model=aware, out=tmp_path / "forced",
                   always=True, **FAST)  # fmt: skip
    assert "always" in forced.report["why"] and forced.steps == FAST["iters"]


def test_a_state_that_does_not_beat_the_start_is_not_kept(tmp_path, aware, captures):
    counts, _ = captures
    run = adapt(images=[counts], degradation=PSF, model=aware, out=tmp_path / "r",
                min_gain=0.99, **FAST)  # fmt: skip
    assert run.best_step == 0 and "no adapted state beat" in run.report["why"]


def test_cancel_keeps_the_best_so_far(tmp_path, aware, captures):
    from napari_sisr.core.adapt import AdaptConfig, iter_adapt
    from napari_sisr.core.progress import TrainProgress, run_to_end

    counts, _ = captures
    seen = []

    def stop():
        return len([u for u in seen if isinstance(u, TrainProgress)]) >= 3

    c = AdaptConfig(images=[counts], degradation=PSF, model=aware, out=tmp_path / "c", **FAST)
    result = run_to_end(iter_adapt(c, stop=stop), seen.append)
    assert result.steps == 3 and "stopped at step 3" in result.report["why"]
    assert (tmp_path / "c" / "model.json").exists()


@pytest.mark.parametrize("change, match", [
    ({"degradation": None}, "PSF"),
    ({"model": "default-2x"}, "degradation-aware"),
    ({"images": []}, "no captures"),
    ({"images": [np.zeros((20, 20), np.float32) + np.arange(20)]}, "too small"),
    ({"out": None}, "run folder"),
])  # fmt: skip
def test_what_adaptation_cannot_use_is_named(tmp_path, aware, captures, change, match):
    options = {"images": [captures[0]], "degradation": PSF, "model": aware,
               "out": tmp_path / "r", **FAST, **change}  # fmt: skip
    with pytest.raises(InputError, match=match):
        adapt(**options)


def test_the_command_line(tmp_path, aware, captures, capsys):
    counts, _ = captures
    tifffile.imwrite(tmp_path / "cap.tif", counts.astype(np.uint16))
    PSF.save(tmp_path / "psf.json")
    args = ["adapt", str(tmp_path / "cap.tif"), "--degradation", str(tmp_path / "psf.json"),
            "-o", str(tmp_path / "run"), "--scale", "2", "--model", aware, "--iters", "4",
            "--patch", "16", "--batch", "2", "-q"]  # fmt: skip
    assert main(args) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["model"].endswith("model.json") and "photon counts" in line["why"]
    assert main(args) == 2  # the run folder is not replaced unasked
    assert "overwrite" in capsys.readouterr().err


def test_each_channel_of_an_rgb_capture_is_a_capture_of_its_own(captures):
    from napari_sisr.core.adapt import _captures

    rgb = np.stack([captures[0], captures[0] * 2, captures[0] * 3], axis=-1)
    found = _captures([rgb], (1.0, 99.8))
    assert [c.raw.shape for c in found] == [captures[0].shape] * 3
    assert [c.name for c in found] == ["array0[0]", "array0[1]", "array0[2]"]
    assert found[1].hi == pytest.approx(2 * found[0].hi)
