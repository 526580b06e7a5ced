"""One meaning per value: sigma, the scale, inference settings, thread counts."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from napari_sisr import DegradationParams, DegradationRange, PredictConfig, TrainConfig
from napari_sisr.core.devices import thread_count
from napari_sisr.core.errors import InputError

# --------------------------------------------------------------------------------- sigma


def test_sigma_is_derived_from_the_axes():
    p = DegradationParams(sigma_y=1.0, sigma_x=4.0)
    assert p.sigma == pytest.approx(2.0) and p.anisotropic
    with pytest.raises(ValueError, match="geometric mean"):
        DegradationParams(sigma=3.0, sigma_y=1.0, sigma_x=4.0)
    with pytest.raises(ValueError, match="both sigma_y and sigma_x"):
        DegradationParams(sigma_y=1.0)


def test_with_sigma_keeps_the_psf_shape():
    p = DegradationParams(scale=2, sigma_y=1.0, sigma_x=4.0, gain=2.0)
    q = p.with_sigma(3.0)
    assert q.sigma == pytest.approx(3.0)
    assert q.sigma_x / q.sigma_y == pytest.approx(4.0) and q.gain == 2.0 and q.scale == 2
    r = p.with_sigma(sigma_yx=(1.5, 1.5))
    assert r.sigma == 1.5 and not r.anisotropic
    assert DegradationParams(sigma=1.0).with_sigma(2.0) == DegradationParams(sigma=2.0)


def test_sigma_axes_cannot_be_changed_apart():
    p = DegradationParams(sigma_y=1.0, sigma_x=4.0)
    with pytest.raises(ValueError):
        p.sigma_y = 2.0  # sigma would no longer be their geometric mean
    with pytest.raises(InputError, match="with_sigma"):
        p.updated(sigma_x=3.0)
    assert p.updated(sigma=4.0).sigma_x == pytest.approx(8.0)


def test_updated_validates():
    with pytest.raises(InputError, match="gain"):
        DegradationParams().updated(gain=0.0)


# --------------------------------------------------------------------------------- scale


def _cfg(tmp_path, **kw):
    hr = np.random.default_rng(0).random((96, 96)).astype(np.float32)
    return TrainConfig(hr=[hr], out=tmp_path / "run", **kw)


def test_scale_comes_from_the_fit_when_not_given(tmp_path):
    cfg = _cfg(tmp_path, degradation=DegradationParams(scale=2, sigma=1.0))
    assert cfg.scale == 2 and cfg.degradation.scale == 2


def test_degradation_without_a_scale_inherits_it(tmp_path):
    cfg = _cfg(tmp_path, scale=2, degradation={"sigma": 1.2, "noise_var": 1.0})
    assert cfg.degradation.scale == 2 and cfg.degradation.sigma == 1.2
    blind = _cfg(tmp_path, scale=2, blind={"noise_std": (0.0, 0.02)})
    assert blind.blind.scale == 2 and blind.blind.sigma == (0.5, 1.2)  # 0.25-0.6 x scale


def test_a_fit_for_another_scale_is_refused(tmp_path):
    with pytest.raises(ValueError, match="for scale 2 but training is at scale 4"):
        _cfg(tmp_path, scale=4, degradation=DegradationParams(scale=2))
    with pytest.raises(ValueError, match="for scale 8"):
        _cfg(tmp_path, scale=4, blind=DegradationRange(scale=8))


def test_default_blind_ranges_are_one_definition(tmp_path):
    cfg = _cfg(tmp_path, scale=4)
    model = cfg.degradation_model()
    assert model == DegradationRange().for_scale(4) and model.sigma == (1.0, 2.4)


# ------------------------------------------------------------------------ inference config


def test_predict_refuses_unknown_and_out_of_range_options():
    from napari_sisr import predict

    net = torch.nn.Upsample(scale_factor=2)
    img = np.zeros((16, 16), np.float32)
    with pytest.raises(ValueError, match="tiles"):
        predict(img, net, scale=2, tiles=8)
    with pytest.raises(ValueError, match="tile"):
        predict(img, net, scale=2, tile=4)
    with pytest.raises(ValueError, match="pixel size"):
        PredictConfig(pixel_size=-1.0)


def test_config_and_options_combine():
    base = PredictConfig(tile=64, batch=2)
    c = PredictConfig.build(base, batch=4)
    assert (c.tile, c.batch) == (64, 4)
    assert PredictConfig.build(None).tile == PredictConfig().tile


# --------------------------------------------------------------------------------- threads


def test_thread_count_belongs_to_the_calling_thread():
    before = torch.get_num_threads()
    if before < 2:
        pytest.skip("needs two CPU threads to tell the counts apart")
    inside, release, seen = threading.Event(), threading.Event(), {}

    def job():
        with thread_count(1):
            seen["inside"] = torch.get_num_threads()
            inside.set()
            release.wait(10)

    t = threading.Thread(target=job)
    t.start()
    assert inside.wait(10)
    during = torch.get_num_threads()  # this thread, while the job holds its own count
    release.set()
    t.join()
    assert seen["inside"] == 1 and during == before == torch.get_num_threads()


def test_training_threads_stay_in_the_training_thread(tmp_path, monkeypatch):
    from napari_sisr import train
    from napari_sisr.core.training import session

    cores = torch.get_num_threads()
    if cores < 2:
        pytest.skip("needs two CPU threads to tell the counts apart")
    counts = []
    real = session.Trainer.train_step

    def step(self):
        counts.append(torch.get_num_threads())
        return real(self)

    monkeypatch.setattr(session.Trainer, "train_step", step)
    rng = np.random.default_rng(0)
    cfg = TrainConfig(
        hr=[rng.random((64, 64)).astype(np.float32) for _ in range(2)],
        out=tmp_path / "run",
        scale=2,
        patch=32,
        batch=2,
        iters=2,
        adversarial=False,
        arch_overrides={"n_blocks": 1, "nf": 8},
        threads=1,
        device="cpu",
    )
    train(cfg)
    assert counts == [1, 1]
    assert torch.get_num_threads() == cores  # the caller's own count is untouched


def test_learning_rate_is_named_apart_from_low_resolution(tmp_path):
    """TrainConfig says learning_rate (beside lr_images and real_lr, where lr is a capture);
    a saved run or an older script that says lr is still read."""
    hr = [np.zeros((64, 64), np.float32)]
    new = TrainConfig(hr=hr, out=tmp_path / "a", learning_rate=2e-4, learning_rate_d=1e-4)
    old = TrainConfig(hr=hr, out=tmp_path / "b", lr=2e-4, lr_d=1e-4)
    assert new.learning_rate == old.learning_rate == 2e-4
    assert new.learning_rate_d == old.learning_rate_d == 1e-4
    dumped = new.model_dump()
    assert "learning_rate" in dumped and "lr" not in dumped
    assert TrainConfig(hr=hr, out=tmp_path / "c").learning_rate == 1e-3  # the preset's
    with pytest.raises(ValueError):
        TrainConfig(hr=hr, out=tmp_path / "d", learning_rate=-1.0)


@pytest.mark.parametrize("given, n", [
    (np.zeros((64, 64)), 1), (np.zeros((3, 64, 64)), 1), ("a.tif", 1), (("a.tif", "b.tif"), 2),
    (None, 0),
])  # fmt: skip
def test_one_image_is_a_list_of_one_not_its_rows(given, n):
    """An array given where a list of images is expected is one image (it was iterated row by
    row into 64 "images" of one dimension), a path one file (not one per letter)."""
    from napari_sisr.core.adapt import AdaptConfig

    assert len(TrainConfig(hr=given).hr) == n
    assert len(AdaptConfig(images=given).images) == n
    if n:
        assert len(TrainConfig(hr=[np.zeros((64, 64))], val=given).val) == n
    with pytest.raises(Exception, match="list of arrays, files or layers"):
        TrainConfig(hr=5)
