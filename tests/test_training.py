"""Training engine: learning, reproducibility, exact resume, checkpoints, export, errors."""

from __future__ import annotations

import errno
import json
import threading

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from napari_sisr import (
    DegradationParams,
    TrainConfig,
    TrainProgress,
    fit_degradation,
    iter_train,
    simulate_lr,
    train,
)
from napari_sisr.core.modelio import load_model
from napari_sisr.core.progress import run_to_end
from napari_sisr.core.training import (
    CheckpointError,
    Trainer,
    TrainingDiverged,
    latest_checkpoint,
    load_checkpoint,
)
from napari_sisr.core.training import checkpoint as ckpt_mod
from napari_sisr.core.training.config import REAL_FRACTION, DegradationRange

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"n_blocks": 1, "nf": 8}


@pytest.fixture(scope="module")
def crops(actin):
    return [actin[:96, :96].copy(), actin[116:212, :96].copy(), actin[316:412, 300:396].copy()]


def tiny(tmp_path, hr, name="run", **kw) -> TrainConfig:
    base = dict(
        hr=hr,
        out=tmp_path / name,
        scale=4,
        patch=32,
        batch=2,
        iters=6,
        arch_overrides=TINY,
        adversarial=False,
        val_every=3,
        val_max_size=64,
        ema=None,
        seed=0,
        degradation=DegradationParams(scale=4, sigma=1.5, noise_var=25.0),
    )
    base.update(kw)
    return TrainConfig(**base)


def _log(run) -> list[dict]:
    lines = (run / "log.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines]


def _losses(run) -> list[dict]:
    return [r for r in _log(run) if "event" not in r]


def test_losses_finite_and_decreasing(tmp_path):
    # A trivial case: smooth, statistically uniform texture, so every patch is alike.
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    smooth = [gaussian_filter(rng.standard_normal((96, 96)), 4.0) for _ in range(3)]
    cfg = tiny(tmp_path, smooth, iters=40, lr=2e-3, log_every=1, val_every=40, degradation=None)
    result = train(cfg)
    pix = [r["l_g_pix"] if "l_g_pix" in r else r["l_g_total"] for r in _losses(result.run_dir)]
    assert len(pix) == 40 and all(np.isfinite(pix))
    assert np.mean(pix[-8:]) < 0.5 * np.mean(pix[:4])


def test_same_seed_same_losses(tmp_path, crops):
    kw = dict(adversarial=True, warmup=2, iters=4, log_every=1, ema=0.9)
    a = train(tiny(tmp_path, crops, "a", **kw))
    b = train(tiny(tmp_path, crops, "b", **kw))
    c = train(tiny(tmp_path, crops, "c", seed=1, **kw))
    assert _losses(a.run_dir) == _losses(b.run_dir)
    assert _losses(a.run_dir) != _losses(c.run_dir)
    wa = load_file(str(a.last.with_suffix(".safetensors")))
    wb = load_file(str(b.last.with_suffix(".safetensors")))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_is_exact(tmp_path, crops):
    kw = dict(adversarial=True, warmup=2, iters=6, log_every=1, ema=0.9, checkpoint_every=100)
    straight = train(tiny(tmp_path, crops, "straight", **kw))

    calls = {"n": 0}

    def stop_after_three():
        calls["n"] += 1
        return calls["n"] > 3

    half = train(tiny(tmp_path, crops, "split", **kw), stop=stop_after_three)
    assert half.stopped and half.steps == 3
    assert half.model.exists()  # a stopped run still exports its model
    resumed = train(tiny(tmp_path, crops, "split", resume=True, **kw))
    assert resumed.steps == 6 and not resumed.stopped
    assert _losses(straight.run_dir) == _losses(resumed.run_dir)
    ta, _ = load_checkpoint(straight.checkpoint)
    tb, _ = load_checkpoint(resumed.checkpoint)
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k


def test_checkpoint_survives_full_disk(tmp_path, crops, monkeypatch):
    cfg = tiny(tmp_path, crops, iters=4, checkpoint_every=2, val_every=2)
    real = ckpt_mod.save_file
    calls = {"n": 0}

    def failing(tensors, filename, metadata=None):
        calls["n"] += 1
        if calls["n"] == 1:
            return real(tensors, filename, metadata=metadata)
        with open(filename, "wb") as fh:  # half-written file, then the disk is full
            fh.write(b"\0" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt_mod, "save_file", failing)
    with pytest.raises(CheckpointError, match="step_00000002.*intact"):
        train(cfg)
    root = cfg.out / "checkpoints"
    good = latest_checkpoint(root)
    assert good is not None and good.name == "step_00000002"
    tensors, meta = load_checkpoint(good)
    assert meta["step"] == 2 and all(torch.isfinite(v.float()).all() for v in tensors.values())
    assert not list(root.glob(".step_*")), "temporary folders were left behind"
    # The run can be resumed from the surviving checkpoint once there is space again.
    monkeypatch.setattr(ckpt_mod, "save_file", real)
    assert train(tiny(tmp_path, crops, iters=4, resume=True, checkpoint_every=2)).steps == 4


def test_non_finite_loss_stops_and_keeps_last_good(tmp_path, crops, monkeypatch):
    cfg = tiny(tmp_path, crops, iters=8, checkpoint_every=2, val_every=2)
    orig = Trainer._levels

    def poisoned(self, lr, cond=None):
        out = orig(self, lr, cond)
        return [o * float("nan") for o in out] if self.step >= 3 else out

    monkeypatch.setattr(Trainer, "_levels", poisoned)
    with pytest.raises(TrainingDiverged, match=r"step 4.*step_00000002"):
        train(cfg)
    good = latest_checkpoint(cfg.out / "checkpoints")
    assert good.name == "step_00000002"
    tensors, _ = load_checkpoint(good)
    assert all(torch.isfinite(v.float()).all() for v in tensors.values())
    assert _log(cfg.out)[-1]["event"] == "diverged"


def test_validation_uses_held_out_images_only(tmp_path, crops, actin):
    base = Trainer(tiny(tmp_path, crops[:2], val=[crops[2]]))
    assert base.split == {"mode": "explicit", "train": ["array0", "array1"], "val": ["array0"]}
    ref = base.valset.evaluate(base.net_g)
    # Other training images: identical validation figures (same weights, same held-out set).
    other_train = Trainer(tiny(tmp_path, [actin[:96, 416:]] * 2, val=[crops[2]]))
    assert other_train.valset.evaluate(other_train.net_g) == ref
    # Another validation image: different figures.
    other_val = Trainer(tiny(tmp_path, crops[:2], val=[crops[0]]))
    assert other_val.valset.evaluate(other_val.net_g)["psnr_bicubic"] != ref["psnr_bicubic"]


def test_progress_reports_losses_val_and_preview(tmp_path, crops):
    updates = []
    result = run_to_end(iter_train(tiny(tmp_path, crops, iters=3)), updates.append)
    steps = [u for u in updates if isinstance(u, TrainProgress)]
    assert [u.step for u in steps] == [1, 2, 3]
    last = steps[-1]
    assert last.val is not None and last.val.step == 3
    assert all(np.isfinite([last.val.psnr, last.val.ssim, last.val.psnr_bicubic]))
    assert last.preview.ndim == 2 and last.preview.shape[0] % 4 == 0
    assert np.isfinite(last.lr) and all(np.isfinite(list(last.losses.values())))
    assert result.split["val"] == ["array2"]
    saved = json.loads((result.run_dir / "config.json").read_text())
    assert saved["sources"]["hr"][0].startswith("array0") and saved["split"] == result.split


def test_exported_model_loads(tmp_path, crops):
    result = train(tiny(tmp_path, crops, iters=3))
    net = load_model(result.model)
    meta = net.meta
    assert meta["arch"] == "srresnet" and meta["scale"] == 4 and meta["in_channels"] == 1
    assert meta["normalization"] == {"mode": "percentile", "low": 1.0, "high": 99.8}
    assert meta["degradation"]["mode"] == "fixed" and meta["degradation"]["sigma"] == 1.5
    # the recorded validation figures are those of the held-out set, recomputed here
    same = Trainer(tiny(tmp_path, crops, "again", iters=3))
    recomputed = same.valset.evaluate(net)
    assert meta["validation"]["psnr_bicubic"] == pytest.approx(recomputed["psnr_bicubic"])
    assert meta["validation"]["psnr"] == pytest.approx(recomputed["psnr"], abs=1e-4)
    assert meta["receptive_field"] == net.receptive_field
    with torch.no_grad():
        assert net(torch.rand(1, 1, 10, 12)).shape == (1, 1, 40, 48)


def test_fine_tune_from_exported_model(tmp_path, crops, actin):
    first = train(tiny(tmp_path, crops, "first", iters=3))
    cfg = TrainConfig(
        hr=[actin[:200, :200]],
        out=tmp_path / "ft",
        init=str(first.model),
        patch=32,
        batch=2,
        iters=2,
        adversarial=False,
        ema=None,
        val_max_size=64,
        blind=DegradationRange(scale=4, sigma=(1.0, 2.0)),
    )
    assert cfg.arch == "srresnet" and cfg.scale == 4 and cfg.arch_overrides["nf"] == 8
    trainer = Trainer(cfg)
    src = load_model(first.model).state_dict()
    assert all(torch.equal(v, src[k]) for k, v in trainer.net_g.state_dict().items())
    result = train(cfg)
    assert result.split["mode"] == "band" and load_model(result.model).meta["scale"] == 4
    with pytest.raises(ValueError, match="scale=4 but the run is at scale 2"):
        TrainConfig(hr=[crops[0]], out=tmp_path / "x", init=str(first.model), scale=2)


def test_a_smaller_scale_model_starts_a_larger_one(tmp_path, crops, actin):
    """A 2x SRResNet starts a 4x one: every weight shared, the added x2 stage copies the
    features onto the finer grid."""
    import torch.nn.functional as F

    two = tiny(tmp_path, crops, "two", scale=2, iters=3, degradation=None)
    first = train(two)
    cfg = tiny(tmp_path, [actin[:200, :200]], "grown", init=str(first.model), scale=4)
    assert cfg.scale == 4 and cfg.arch_overrides["nf"] == 8
    trainer = Trainer(cfg)
    src = load_model(first.model)
    grown = trainer.net_g.state_dict()
    assert all(torch.equal(grown[k], v) for k, v in src.state_dict().items())
    g, s = trainer.net_g.eval(), src.eval()
    # what the output conv reads: the 2x model's features, enlarged
    g.out, s.out = torch.nn.Identity(), torch.nn.Identity()
    x = torch.rand(1, 1, 12, 12)
    with torch.no_grad():
        feat2 = s.upsample(s.head(x) + s.body_tail(s.body(s.head(x))))
        feat4 = g.upsample(g.head(x) + g.body_tail(g.body(g.head(x))))
    assert torch.allclose(feat4, F.interpolate(feat2, scale_factor=2, mode="nearest"), atol=1e-6)
    four = train(cfg).model
    assert load_model(four).meta["scale"] == 4
    with pytest.raises(ValueError, match="smaller scale starts larger ones"):
        TrainConfig(hr=[crops[0]], out=tmp_path / "x", init=str(four), scale=2)


def test_blind_range_recorded(tmp_path, crops):
    cfg = tiny(tmp_path, crops, iters=2, degradation=None, blind=DegradationRange(scale=4))
    meta = load_model(train(cfg).model).meta
    # the default PSF range, 0.25 to 0.6 times the scale
    assert meta["degradation"]["mode"] == "blind" and meta["degradation"]["sigma"] == [1.0, 2.4]


def test_soft_content_and_log_noise_reach_training(tmp_path, crops, monkeypatch):
    """content_sigma blurs the HR targets of the batches; the settings go into the model."""
    from napari_sisr.core.training import session as session_mod

    widths = []
    real = session_mod.soften

    def spy(hr, sigmas):
        widths.extend(sigmas)
        return real(hr, sigmas)

    monkeypatch.setattr(session_mod, "soften", spy)
    blind = DegradationRange(
        scale=4, noise_std=(0.005, 0.05), noise_sampling="log", content_sigma=(0.5, 1.5)
    )
    cfg = tiny(tmp_path, crops, iters=2, degradation=None, blind=blind)
    meta = load_model(train(cfg).model).meta
    assert len(widths) == 2 * cfg.batch and all(0.5 <= w <= 1.5 for w in widths)
    assert meta["degradation"]["noise_sampling"] == "log"
    assert meta["degradation"]["content_sigma"] == [0.5, 1.5]


def test_noisy_content_reaches_the_training_targets(tmp_path, crops, monkeypatch):
    """content_noise adds noise to the HR targets of the batches (the HR capture's own noise);
    the setting goes into the model; the condition a degradation-aware model is told does
    not change with it."""
    from napari_sisr.core.training import session as session_mod

    targets = []
    real = session_mod.Trainer._batch

    def spy(self):
        hr, lr, cond = real(self)
        targets.append(hr.detach().clone())
        return hr, lr, cond

    monkeypatch.setattr(session_mod.Trainer, "_batch", spy)

    def roughness(name, **ranges):
        targets.clear()
        blind = DegradationRange(scale=4, noise_std=(0.01, 0.01), **ranges)
        meta = load_model(train(tiny(tmp_path, crops, name, iters=2, degradation=None,
                                     blind=blind)).model).meta  # fmt: skip
        hr = torch.cat(targets)
        return float((hr[..., 1:] - hr[..., :-1]).std()), meta

    clean, _ = roughness("clean")
    noisy, meta = roughness("noisy", content_noise=(0.3, 0.3))
    # white noise of std 0.3 alone gives pixel differences of std 0.42
    assert noisy > 0.35 > 3 * clean
    assert meta["degradation"]["content_noise"] == [0.3, 0.3]


def test_paired_mode(tmp_path, crops):
    p = DegradationParams(scale=4, sigma=1.2, noise_var=4.0)
    lrs = [simulate for simulate in (_sim(c, p, i) for i, c in enumerate(crops))]
    cfg = tiny(tmp_path, crops, iters=2, degradation=None, lr_images=lrs)
    result = train(cfg)
    assert load_model(result.model).meta["degradation"] == {"mode": "paired"}
    with pytest.raises(ValueError, match="one LR image per HR"):
        tiny(tmp_path, crops, degradation=None, lr_images=lrs[:2])
    with pytest.raises(ValueError, match="not the HR image"):
        train(tiny(tmp_path, crops, "bad", degradation=None, lr_images=[c[:20, :20] for c in lrs]))


def _sim(img, p, seed):
    from napari_sisr import simulate_lr

    return simulate_lr(img, p, rng=np.random.default_rng(seed))


def test_stop_event_and_existing_run(tmp_path, crops):
    ev = threading.Event()
    ev.set()
    result = train(tiny(tmp_path, crops), stop=ev)
    assert result.stopped and result.steps == 0 and result.model.exists()
    with pytest.raises(FileExistsError, match="already holds"):
        train(tiny(tmp_path, crops))
    with pytest.raises(ValueError, match="nothing to resume"):
        train(tiny(tmp_path, crops, "empty", resume=True))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"scale": 5, "degradation": None}, "does not support scale 5"),
        ({"patch": 34}, "not divisible by the scale"),
        ({"patch": 16}, "LR patches"),
        ({"degradation": DegradationParams(scale=2)}, "scale 2 but training is at scale 4"),
        ({"in_channels": 2}, "channel"),
        ({"patch": 128}, "smaller than the 128-pixel patch"),
        ({"warmup": 6, "adversarial": True}, "warmup"),
    ],
)
def test_bad_input_errors(tmp_path, crops, kw, match):
    with pytest.raises(ValueError, match=match):
        cfg = tiny(tmp_path, crops, **kw)
        Trainer(cfg)


def test_too_few_images(tmp_path, actin):
    with pytest.raises(ValueError, match="too small"):
        Trainer(tiny(tmp_path, [actin[:40, :40]]))
    with pytest.raises(ValueError, match="no HR images"):
        Trainer(tiny(tmp_path, []))


@pytest.mark.parametrize("arch", ["srresnet", "srgan_nn", "rrdb", "cascaded"])
def test_every_arch_trains_and_exports(tmp_path, crops, arch):
    cfg = TrainConfig(
        hr=crops[:2],
        out=tmp_path / arch,
        arch=arch,
        iters=2,
        warmup=1,
        adversarial=True,
        patch=32,
        batch=1,
        val_every=2,
        val_max_size=48,
        log_every=1,
    )
    result = train(cfg)
    phases = [r["phase"] for r in _losses(result.run_dir)]
    assert phases == ["content", "adversarial"]
    assert "l_d" in _losses(result.run_dir)[1]
    net = load_model(result.model)
    assert net.meta["arch"] == arch
    with torch.no_grad():
        assert net(torch.rand(1, 1, 12, 12)).shape == (1, 1, 48, 48)


def test_loss_weights_resolution(tmp_path, crops):
    from napari_sisr.core.archs import get_spec

    fast = tiny(tmp_path, crops)
    paper_defaults = get_spec("srresnet").loss_defaults["fast"]
    assert fast.loss_weights["pixel_l1"] == 1.0 and fast.loss_weights["pixel_mse"] == 0.0
    assert fast.loss_weights["adv"] == paper_defaults["adv"]
    mine = tiny(tmp_path, crops, loss_weights={"adv": 0.01})
    assert mine.loss_weights["adv"] == 0.01 and mine.loss_weights["pixel_l1"] == 1.0
    with pytest.raises(ValueError, match="unknown loss key"):
        tiny(tmp_path, crops, loss_weights={"pixle_l1": 1.0})


def test_lr_schedules():
    from napari_sisr.core.training.session import lr_factor

    assert [lr_factor("step", s, 10) for s in (0, 4, 5, 9)] == [1.0, 1.0, 0.1, 0.1]
    assert lr_factor("cosine", 0, 10) == pytest.approx(1.0)
    assert lr_factor("cosine", 10, 10) == pytest.approx(0.01)
    assert lr_factor("constant", 7, 10) == 1.0


def test_several_discriminator_updates_per_generator_update(tmp_path, crops):
    cfg = tiny(tmp_path, crops, adversarial=True, warmup=0, iters=1, net_d_iters=2, log_every=1)
    trainer = Trainer(cfg)
    before = {k: v.clone() for k, v in trainer.net_d.state_dict().items()}
    losses = trainer.train_step()
    assert {"l_d", "l_g_gan"} <= set(losses)
    assert trainer.opt_d.state[next(iter(trainer.net_d.parameters()))]["step"] == 2
    assert any(not torch.equal(before[k], v) for k, v in trainer.net_d.state_dict().items())


def test_real_captures_validate_the_simulated_training(tmp_path, actin):
    """real_lr with real_fraction 0: trained on simulated LR, validated (and the best model
    chosen) on real LR."""
    from napari_sisr.core.evaluation.scoring import bicubic_upsample, register_shift
    from napari_sisr.core.training import Trainer

    hr = actin[:256, :320].astype(np.float32)
    truth = DegradationParams(scale=4, sigma=1.8, shift_yx=(2.5, -1.5), gain=0.3, offset=40.0)
    lr = simulate_lr(hr, truth.updated(noise_var=4.0), rng=np.random.default_rng(0))
    fit = fit_degradation(hr, lr, 4)
    assert tiny(tmp_path, [hr], degradation=fit, real_lr=[lr]).real_fraction == REAL_FRACTION
    cfg = tiny(tmp_path, [hr], degradation=fit, real_lr=[lr], real_fraction=0.0, iters=2)
    trainer = Trainer(cfg)
    assert all(img.lr is None for img in trainer.train_images)  # simulated for training
    item = trainer.valset.items[0]
    assert item["real"]
    # the held-out real LR lies on its HR band's grid: the fit's shift registered them
    band_hr = item["hr"][0, 0].numpy().astype(np.float64)
    band_lr = item["lr"][0, 0].numpy().astype(np.float64)
    dy, dx = register_shift(band_hr, bicubic_upsample(band_lr, 4), 8)
    assert abs(dy) < 0.5 and abs(dx) < 0.5
    # scored like a real pair (own gain and offset, border left out): the real LR here is a
    # simulation with the true parameters, so it scores as the fit's own simulation of the
    # band does when that is scored the same way
    from napari_sisr.core.evaluation.baselines import bicubic

    real = trainer.valset.evaluate(trainer.net_g)
    simulated = Trainer(tiny(tmp_path, [hr], "sim", degradation=fit)).valset.items[0]
    assert not simulated["real"]
    as_real = dict(simulated, real=True)
    like_for_like, _ = trainer.valset._score(bicubic(as_real["lr"], 4), as_real)
    assert real["psnr_bicubic"] == pytest.approx(like_for_like, abs=0.5)
    result = train(cfg)
    assert result.steps == 2 and result.best_metrics["n_images"] == 1
    with pytest.raises(ValueError, match="degradation fitted"):
        tiny(tmp_path, [hr], degradation=None, real_lr=[lr])
    with pytest.raises(ValueError, match="one real LR capture per HR image"):
        tiny(tmp_path, [hr, hr], degradation=fit, real_lr=[lr])


def test_real_fraction_mixes_real_and_simulated_patches(tmp_path, actin):
    from napari_sisr.core.training import Trainer

    hr = actin[:256, :320].astype(np.float32)
    truth = DegradationParams(scale=4, sigma=1.8, shift_yx=(1.0, 0.0), noise_var=4.0)
    lr = simulate_lr(hr, truth, rng=np.random.default_rng(0))
    fit = fit_degradation(hr, lr, 4)
    for fraction, expect in ((1.0, "all"), (0.5, "some")):
        cfg = tiny(
            tmp_path, [hr], f"f{fraction}", degradation=fit, real_lr=[lr],
            real_fraction=fraction, batch=8,
        )  # fmt: skip
        trainer = Trainer(cfg)
        state = trainer.rng.bit_generator.state
        _, real, _ = trainer.sampler.draw(cfg.batch, trainer.rng)  # what _batch will draw
        trainer.rng.bit_generator.state = state
        _, got, _ = trainer._batch()
        same = [np.allclose(g, r) for g, r in zip(got.numpy(), real, strict=True)]
        assert all(same) if expect == "all" else 0 < sum(same) < len(same)
    with pytest.raises(ValueError, match="give them as real_lr"):
        tiny(tmp_path, [hr], degradation=fit, real_fraction=0.5)


def test_failed_runs_leave_no_folder_and_files_keep_the_umask(tmp_path, crops):
    import os

    bad = tmp_path / "never"
    with pytest.raises(ValueError, match="empty"):
        train(tiny(tmp_path, [np.zeros((0, 0), np.float32), crops[0]], "never"))
    assert not bad.exists()  # no empty run folder from a run that could not start
    result = train(tiny(tmp_path, crops, "ok", iters=2))
    mask = os.umask(0)
    os.umask(mask)
    for name in ("config.json", "model.json", "model.safetensors", "log.jsonl"):
        mode = (result.run_dir / name).stat().st_mode & 0o777
        assert mode == 0o666 & ~mask, (name, oct(mode))
    (ckpt,) = [p for p in (result.run_dir / "checkpoints").iterdir() if p.is_dir()]
    assert ckpt.stat().st_mode & 0o777 == 0o777 & ~mask


def test_an_adversarial_run_exports_the_best_of_its_adversarial_phase(tmp_path, monkeypatch):
    """A warm-up generator scores a higher PSNR than any GAN-refined one nearly always:
    "best" must not fall back to it, or the exported model silently drops the GAN phase."""
    from types import SimpleNamespace

    from napari_sisr.core.training import loop

    exported = []
    monkeypatch.setattr(loop, "_export", lambda t, path, m, kind: exported.append(m["step"]))
    log = SimpleNamespace(write=lambda record: None)

    def run(scores, warmup, net_d):
        t = SimpleNamespace(net_d=net_d, config=SimpleNamespace(warmup=warmup), best=None)
        for step, psnr in scores:
            t.step = step
            t.validate = lambda s=step, p=psnr: {"step": s, "psnr": p}
            loop._validate(t, tmp_path, log)
        return t.best["step"]

    scores = [(2, 30.0), (4, 28.0), (6, 29.0), (8, 28.5)]
    assert run(scores, warmup=3, net_d=object()) == 6  # not 2, from the warm-up
    assert exported == [2, 4, 6]
    assert run(scores, warmup=3, net_d=None) == 2  # content only: the best overall
    assert run(scores, warmup=10, net_d=object()) == 2  # no adversarial step yet


def test_patience_defaults(crops):
    from napari_sisr.core.training.schedule import default_patience

    assert default_patience(1500, 200) == 500 and default_patience(900, 200) == 400
    content = TrainConfig(hr=crops, iters=1500, adversarial=False, init=None)
    assert (content.val_every, content.patience) == (200, 500)
    gan = TrainConfig(hr=crops, iters=1500, adversarial=True, init=None)
    assert gan.patience == 0  # an adversarial run keeps the best of its adversarial phase
    with pytest.raises(ValueError, match="early stopping .* content-only"):
        TrainConfig(hr=crops, iters=1500, adversarial=True, patience=100, init=None)
    mine = TrainConfig(hr=crops, iters=1500, val_every=7, patience=0, init=None)
    assert (mine.val_every, mine.patience) == (7, 0)


def _scripted_validation(monkeypatch, psnr_of_step):
    """Trainer.validate as usual, but with the PSNR the test dictates for each step."""
    real = Trainer.validate

    def validate(self):
        metrics = real(self)
        return {**metrics, "psnr": psnr_of_step(self.step)}

    monkeypatch.setattr(Trainer, "validate", validate)


def test_early_stopping_ends_a_run_that_stopped_improving(tmp_path, crops, monkeypatch):
    # best at step 4, worse after: with a patience of 6 steps the run ends at step 10
    _scripted_validation(monkeypatch, lambda step: 30.0 - abs(step - 4))
    updates = []
    result = train(
        tiny(tmp_path, crops, iters=40, val_every=2, patience=6), progress=updates.append
    )
    assert result.stopped_early and not result.stopped and result.steps == 10
    assert result.best_metrics["step"] == 4
    assert json.loads((result.run_dir / "model.json").read_text())["training"]["steps"] == 4
    events = [r for r in _log(result.run_dir) if "event" in r]
    assert {"event": "early_stop", "step": 10, "best_step": 4} in events
    assert events[-1]["event"] == "stopped_early"
    assert "stopping early at step 10" in updates[-1].message
    assert latest_checkpoint(result.run_dir / "checkpoints").name == "step_00000010"


def test_patience_zero_or_a_still_improving_run_trains_to_the_end(tmp_path, crops, monkeypatch):
    _scripted_validation(monkeypatch, lambda step: 30.0 - abs(step - 4))
    result = train(tiny(tmp_path, crops, "never", iters=14, val_every=2, patience=0))
    assert not result.stopped_early and result.steps == 14
    _scripted_validation(monkeypatch, lambda step: 20.0 + step)  # better at every validation
    result = train(tiny(tmp_path, crops, "rising", iters=14, val_every=2, patience=4))
    assert not result.stopped_early and result.steps == 14


def test_the_adversarial_phase_starts_from_the_best_content_generator(tmp_path, monkeypatch):
    """The warm-up's best validated generator (step 2 here), not where it drifted to by its
    end (step 6), is what the GAN phase refines."""
    from napari_sisr.core.training import loop

    rng = np.random.default_rng(0)
    images = [rng.random((64, 64)).astype(np.float32) for _ in range(3)]
    _scripted_validation(monkeypatch, lambda step: 30.0 - abs(step - 2))
    exported = {}
    real_export = loop._export

    def export(trainer, path, metrics, kind):
        exported[trainer.step] = {k: v.clone() for k, v in trainer.eval_net.state_dict().items()}
        return real_export(trainer, path, metrics, kind)

    monkeypatch.setattr(loop, "_export", export)
    restarts = []
    real_restart = Trainer.restart_generator

    def restart(self, state):
        before = {k: v.clone() for k, v in self.eval_net.state_dict().items()}
        real_restart(self, state)
        raw = {k: v.clone() for k, v in self.net_g.state_dict().items()}
        restarts.append((self.step, state, raw, before))

    monkeypatch.setattr(Trainer, "restart_generator", restart)
    cfg = tiny(tmp_path, images, iters=10, warmup=6, val_every=2, adversarial=True, patch=32)
    result = train(cfg)
    assert [step for step, *_ in restarts] == [6]
    _, state, raw, before = restarts[0]
    for key, value in exported[2].items():
        assert torch.equal(state[key], value) and torch.equal(raw[key], value)
    assert any(not torch.equal(before[k], v) for k, v in exported[2].items())  # it had drifted
    events = [r for r in _log(result.run_dir) if r.get("event") == "adversarial_start"]
    assert events == [{"event": "adversarial_start", "step": 6, "from_step": 2}]
    assert result.best_metrics["step"] > 6  # still the best of the adversarial phase
