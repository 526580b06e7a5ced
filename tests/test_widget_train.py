"""The Train widget in a real napari viewer (run under Xvfb)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("private_model_registry")]

#: A tiny SRResNet so that a few training steps take well under a second each.
TINY = {"arch_overrides": {"n_blocks": 1, "nf": 8}, "val_max_size": 64}


@pytest.fixture
def notes(monkeypatch):
    """Every napari notification shown, as (level, message)."""
    import napari.utils.notifications as nt

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(nt, "show_error", lambda m: shown.append(("error", str(m))))
    monkeypatch.setattr(nt, "show_info", lambda m: shown.append(("info", str(m))))
    monkeypatch.setattr(nt, "show_warning", lambda m: shown.append(("warning", str(m))))
    return shown


@pytest.fixture
def widget(make_napari_viewer, actin, tmp_path):
    """The docked widget with two real 128 x 128 crops as layers, set up for a tiny run."""
    viewer = make_napari_viewer()
    viewer.add_image(actin[100:228, 200:328].astype(np.float32), name="actin_a")
    viewer.add_image(actin[216:344, 200:328].astype(np.float32), name="actin_b")
    _, w = viewer.window.add_plugin_dock_widget("napari-sisr", "Train")
    f = w.form
    f.data.set_hr_layers(["actin_a", "actin_b"])
    f.model.arch.value = "srresnet"
    f.model.preset.value = "fast"
    f.deg.scale.value = "2"
    f.deg.sigma.value = 1.0
    f.deg.noise_std.value = 2.0
    t = f.training
    t.patch.value, t.batch.value, t.iterations.value = 32, 2, 6
    t.val_every.value = t.preview_every.value = 3
    t.adversarial.value = False  # content loss only: the GAN run is the slow test below
    t.run_dir.value = tmp_path / "run"
    w.config_overrides = dict(TINY)
    return viewer, w


def _wait_idle(qtbot, w, timeout=60_000):
    qtbot.waitUntil(lambda: not w.running, timeout=timeout)


def test_widget_docks_through_manifest(make_napari_viewer):
    from napari_sisr.widgets.train.widget import TrainWidget

    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-sisr", "Train")
    assert isinstance(w, TrainWidget)
    from napari_sisr.core.archs import ARCHS

    model, deg = w.form.model, w.form.deg
    assert list(model.arch.choices) == sorted(ARCHS)
    assert model.arch.value == "srresnet" and model.preset.value == "fast"
    for name, spec in ARCHS.items():  # presets and scales follow the chosen architecture
        model.arch.value = name
        assert list(model.preset.choices) == list(spec.presets)
        assert [int(s) for s in deg.scale.choices] == list(spec.scales)
    w.reset_choices()  # what napari does when a layer comes: the choices stay
    assert list(model.preset.choices) == list(spec.presets)
    assert [int(s) for s in deg.scale.choices] == list(spec.scales)


def test_train_to_end_plots_preview_and_registers_model(widget, qtbot, notes, tmp_path):
    from napari_sisr.widgets._models import available_models

    viewer, w = widget
    _, sr = viewer.window.add_plugin_dock_widget("napari-sisr", "Super-resolve")
    w.start()
    assert w.running
    _wait_idle(qtbot, w)
    assert not [n for n in notes if n[0] == "error"], notes
    result = w.last_result
    assert result is not None and result.steps == 6 and not result.stopped
    assert w.loss_plot.n_points() >= 6  # one point per step and loss term
    assert len(w.psnr_plot.series["model"].xs) >= 2  # validations at steps 3 and 6
    assert len(w.psnr_plot.series["bicubic"].ys) == len(w.psnr_plot.series["model"].ys)
    assert len(w.ssim_plot.series["model"].ys) >= 2
    from napari_sisr.widgets.train.widget import LOSS_LABELS

    # every loss term the run logged has a name for people in the legend
    assert set(w.loss_plot.series) <= set(LOSS_LABELS), set(w.loss_plot.series)
    assert not w.curves.native.isHidden()  # shown once the run started
    preview = viewer.layers["SR preview (training)"]
    # the preview is the final network's SR of the held-out crop, value for value
    from napari_sisr.core.modelio import load_model
    from napari_sisr.core.training import Trainer
    from napari_sisr.widgets.train.job import build_config

    values = {**w.form.values(), "run_dir": str(tmp_path / "again")}
    same = Trainer(build_config(viewer, values, overrides=w.config_overrides))
    expected = same.valset.preview(load_model(result.last))
    np.testing.assert_allclose(np.asarray(preview.data), expected, rtol=1e-5, atol=1e-6)
    # ... and the PSNR curve holds the logged validations
    logged = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").open()]
    vals = [r["val"]["psnr"] for r in logged if r.get("event") == "val"]
    assert w.psnr_plot.series["model"].ys == pytest.approx(vals)
    model_json = tmp_path / "run" / "model.json"
    assert model_json.exists()
    meta = json.loads(model_json.read_text())
    assert meta["scale"] == 2 and meta["training"]["steps"] == 6
    assert str(model_json.resolve()) in available_models().values()
    # the finished run exports as a bioimage.io package from the widget, in the background
    pytest.importorskip("bioimageio.spec")
    import zipfile

    assert w.export_btn.enabled
    worker = w.export_btn.export(tmp_path / "run.zip")
    assert worker is not None
    qtbot.waitUntil(lambda: not w.export_btn.runner.busy, timeout=120_000)
    assert w.export_btn.last_path == tmp_path / "run.zip"
    with zipfile.ZipFile(tmp_path / "run.zip") as z:
        assert {"rdf.yaml", "model.json", "model.safetensors"} <= set(z.namelist())
    # ... and the Super-resolve widget, open since before the run, offers it now
    assert str(model_json.resolve()) in [str(c) for c in sr.model.choices]


@pytest.mark.slow
def test_adversarial_run_plots_generator_and_discriminator_losses(widget, qtbot, notes):
    viewer, w = widget
    w.form.training.adversarial.value = True
    w.form.training.iterations.value = 4
    w.form.training.val_every.value = 2
    w.config_overrides["warmup"] = 1  # pixel loss only for the first step, then the GAN
    w.start()
    _wait_idle(qtbot, w, timeout=120_000)
    assert not [n for n in notes if n[0] == "error"], notes
    assert len(w.loss_plot.series["l_g_pix"].xs) == 4
    assert all(len(w.loss_plot.series[k].xs) >= 2 for k in ("l_g_gan", "l_d"))
    assert not [k for k in w.loss_plot.series if not k.startswith("l_")]  # losses only


def test_validation_never_trains_on_held_out_layer(widget, notes):
    viewer, w = widget
    data = w.form.data
    data.val_mode.value = "layer"  # a held-out layer
    data.choose(data.val_layer, "actin_b")  # also chosen as HR
    w.start()
    assert not w.running
    assert any("never be trained on" in m for lvl, m in notes if lvl == "error"), notes


def test_stop_keeps_checkpoint_and_exports(widget, qtbot, notes, tmp_path):
    from napari_sisr.core.training import latest_checkpoint

    viewer, w = widget
    w.form.training.iterations.value = 500
    w.start()
    qtbot.waitUntil(lambda: w.progress.value >= 2, timeout=60_000)
    w.stop()
    _wait_idle(qtbot, w)
    assert not [n for n in notes if n[0] == "error"], notes
    result = w.last_result
    assert result.stopped and 2 <= result.steps < 500
    # the validation made on Stop is on the curves, and the notification is honest about it
    assert w.psnr_plot.series["model"].xs[-1] == result.steps
    assert w.psnr_plot.series["bicubic"].xs[-1] == result.steps
    final = [(lvl, m) for lvl, m in notes if m.startswith("Training stopped")]
    assert len(final) == 1, notes
    assert final[0][0] == ("warning" if result.worse_than_bicubic else "info")
    assert ("worse than bicubic" in final[0][1]) == result.worse_than_bicubic
    assert latest_checkpoint(tmp_path / "run" / "checkpoints") is not None
    assert (tmp_path / "run" / "model.json").exists()
    assert "stopped" in w.status.value


@pytest.mark.slow
def test_resume_continues_from_checkpoint(widget, qtbot, notes, tmp_path):
    viewer, w = widget
    w.config_overrides["log_every"] = 1
    w.form.training.iterations.value = 500
    w.start()
    qtbot.waitUntil(lambda: w.progress.value >= 2, timeout=60_000)
    w.stop()
    _wait_idle(qtbot, w)
    stopped_at = w.last_result.steps
    w.form.training.iterations.value = stopped_at + 3
    w.start()  # the folder holds a run: Start refuses, Resume continues
    assert not w.running
    assert any("Resume" in m for lvl, m in notes if lvl == "error")
    w.start(resume=True)
    _wait_idle(qtbot, w)
    assert not w.last_result.stopped and w.last_result.steps == stopped_at + 3
    # the curve holds the logged steps before the checkpoint, then the new ones, once each
    xs = w.loss_plot.series["l_g_pix"].xs
    assert xs == list(range(1, stopped_at + 4)), xs


def test_layer_list_follows_the_viewer(widget):
    viewer, w = widget
    viewer.layers["actin_a"].name = "actin renamed"
    data = w.form.data
    assert data.hr_layer_names() == ["actin renamed", "actin_b"]  # still chosen
    viewer.layers.remove("actin_b")
    assert data.hr_layer_names() == ["actin renamed"]
    names = [ly.name for ly in data.lr_combo.choices if ly is not None]
    assert "actin_b" not in names and "actin renamed" in names


def test_results_previews_and_maps_are_not_offered_as_training_data(widget):
    """Only captures are listed: a super-resolved result, its evidence map, an isotropic
    stack and a fit's simulated LR are things the plugin computed, not data to train on."""
    viewer, w = widget
    img = np.zeros((64, 64), np.float32)
    viewer.add_image(
        img,
        name="actin_a x2 SR (default-2x)",
        metadata={"napari_sisr": {"source": "actin_a", "scale_factor": 2}},
    )
    viewer.add_image(img, name="map", metadata={"napari_sisr": {"evidence_of": "x"}})
    viewer.add_image(
        img[None].repeat(8, 0), name="iso", metadata={"napari_sisr": {"isotropic_of": "stack"}}
    )
    viewer.add_image(img, name="simulated LR")
    viewer.add_image(img, name="a capture")
    listed = {ly.name for ly in w.form.data.hr_layers.choices}
    assert listed == {"actin_a", "actin_b", "a capture"}
    lr = {ly.name for ly in w.form.data.lr_combo.choices if ly is not None}
    assert "map" not in lr and "a capture" in lr


def test_no_hr_layer_is_a_notification(widget, notes):
    viewer, w = widget
    w.form.data.set_hr_layers([])
    w.start()
    assert not w.running
    assert any("HR layer" in m for lvl, m in notes if lvl == "error"), notes


def test_patch_larger_than_images_is_a_notification(widget, notes, tmp_path):
    viewer, w = widget
    w.form.training.patch.value = 256
    w.start()
    assert not w.running
    errors = [m for lvl, m in notes if lvl == "error"]
    assert errors and "patch" in errors[0] and "actin_a" in errors[0], notes
    assert not (tmp_path / "run").exists()  # nothing written for a refused run


def test_a_run_folder_that_cannot_be_one_is_a_notification(widget, notes, tmp_path):
    """Resume with nothing to resume, and a run folder that is a file: notifications that
    say so (they raised out of the buttons: a traceback dialog in napari), nothing written."""
    viewer, w = widget
    assert w.start(resume=True) is None and not w.running
    errors = [m for lvl, m in notes if lvl == "error"]
    assert errors and "nothing to resume" in errors[-1] and "Start" in errors[-1], notes
    assert not (tmp_path / "run").exists()
    (tmp_path / "a file").write_text("x")
    w.form.training.run_dir.value = tmp_path / "a file"
    assert w.start() is None and not w.running
    assert "is a file" in [m for lvl, m in notes if lvl == "error"][-1], notes
    assert "not started" in w.status.value


def test_an_unexpected_failure_at_start_is_a_notification(widget, notes, monkeypatch):
    """A bug while the run is set up is a notification that asks for a report, not an
    exception out of the Start button."""
    import napari_sisr.widgets.train.widget as module

    def broken(*_a, **_k):
        raise RuntimeError("something no input explains")

    viewer, w = widget
    monkeypatch.setattr(module, "build_config", broken)
    assert w.start() is None and not w.running
    errors = [m for lvl, m in notes if lvl == "error"]
    assert errors and errors[-1].startswith("Training"), notes
    assert w.start_btn.enabled


def test_invalid_field_is_named(widget, notes):
    viewer, w = widget
    w.form.training.learning_rate.value = "fast please"
    w.start()
    assert any("learning rate" in m for lvl, m in notes if lvl == "error"), notes
    notes.clear()
    w.form.training.learning_rate.value = "-1e-4"
    w.start()
    assert any(m.startswith("invalid training settings: learning_rate") for lvl, m in notes), notes
    assert not w.running


def test_load_json_fills_the_degradation(widget, tmp_path):
    from napari_sisr.core.degradation.params import DegradationParams

    viewer, w = widget
    path = DegradationParams(
        scale=4, sigma=2.25, noise_var=9.0, gain=0.5, shift_yx=(0.3, -0.2), source="fit"
    ).save(tmp_path / "deg.json")
    w.form.load_degradation(path)
    f = w.form
    assert f.deg.scale.value == "4"
    assert f.deg.sigma.value == pytest.approx(2.25)
    assert f.deg.noise_std.value == pytest.approx(3.0)
    assert f.deg.gain.value == pytest.approx(0.5)
    assert "deg.json" in f.deg.deg_source.value


def test_a_broken_json_is_a_notification_and_changes_nothing(widget, notes, tmp_path):
    """Load JSON… with a file that is no fit: a notification names it, and the degradation
    fields keep what they showed (no traceback dialog)."""
    viewer, w = widget
    deg = w.form.deg
    before = deg.values()
    for name, text in (("broken.json", "{not json"), ("other.json", '{"scale": "four"}')):
        path = tmp_path / name
        path.write_text(text)
        assert deg.load_from_dialog(path) is None
        errors = [m for lvl, m in notes if lvl == "error"]
        assert errors and name in errors[-1], notes
    assert deg.values() == before and w.form.loaded_params is None


def test_closing_the_widget_stops_training(widget, qtbot, tmp_path):
    viewer, w = widget
    w.form.training.iterations.value = 5000
    w.start()
    worker = w.worker
    qtbot.waitUntil(lambda: w.progress.value >= 1, timeout=60_000)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        viewer.window.remove_dock_widget(w.native)
    # it stopped early, and as a stopped run does: checkpoint and model kept
    logged = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").open()]
    end = logged[-1]
    assert end["event"] == "stopped" and 1 <= end["step"] < 5000, end


def _tiny_model_file(path, scale=2):
    import torch

    from napari_sisr.core.archs import build_generator
    from napari_sisr.core.modelio import save_model

    torch.manual_seed(0)
    return save_model(path, build_generator("srresnet", "fast", scale, 1, n_blocks=1, nf=8), {})


def test_fine_tune_takes_the_models_architecture(widget, tmp_path):
    from napari_sisr.widgets._models import register_model
    from napari_sisr.widgets.train.job import build_config

    viewer, w = widget
    f = w.form
    f.deg.scale.value = "4"
    path = register_model(_tiny_model_file(tmp_path / "models" / "tiny_x2"))
    assert str(path) in f.model.init_model.choices, "a registered model is a starting point"
    assert f.model.init_model.choices[-1] == "model file…"  # listed before it, not after
    f.model.init_model.value = str(path)
    assert f.deg.scale.value == "2" and f.model.arch.value == "srresnet"
    assert not f.deg.scale.enabled and not f.model.preset.enabled
    config = build_config(viewer, f.values(), overrides={"val_max_size": 64})
    assert config.init == str(path)
    saved = json.loads(path.read_text())["arch_kwargs"]
    assert config.arch_overrides == saved and saved["n_blocks"] == 1 and saved["nf"] == 8
    f.model.init_model.value = "auto"  # back to the automatic start: choices are free again
    assert f.deg.scale.enabled and f.model.preset.enabled
    f.deg.scale.value = "4"
    config = build_config(viewer, f.values(), overrides={"val_max_size": 64})
    assert config.init == "default-4x"  # srresnet fast, one channel: the bundled model
    f.model.init_model.value = "random"  # random weights
    assert build_config(viewer, f.values(), overrides={"val_max_size": 64}).init is None


@pytest.mark.slow
def test_fine_tune_run_starts_from_the_model_file(widget, qtbot, notes, tmp_path):
    viewer, w = widget
    f = w.form
    path = _tiny_model_file(tmp_path / "models" / "tiny_x2")
    f.model.init_model.value = "model file…"
    f.model.init_path.value = path
    f.training.iterations.value = 3
    w.config_overrides = {"val_max_size": 64}
    w.start()
    _wait_idle(qtbot, w)
    assert not [n for n in notes if n[0] == "error"], notes
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["training"]["config"]["init"] == str(path)


def test_paired_lr_layer_replaces_the_simulation(widget, notes):
    from napari_sisr.sample_data import bpae_actin_hr, bpae_actin_lr
    from napari_sisr.widgets.train.job import build_config

    viewer, w = widget
    viewer.add_image(bpae_actin_hr(), name="pair HR")
    viewer.add_image(bpae_actin_lr(), name="pair LR")
    f = w.form
    f.data.choose(f.data.lr_combo, "pair LR")
    w.start()  # two HR layers ticked: refused
    assert not w.running
    assert any("exactly one HR layer" in m for lvl, m in notes if lvl == "error"), notes
    f.data.set_hr_layers(["pair HR"])
    f.deg.scale.value = "4"
    config = build_config(viewer, f.values())
    assert config.paired and config.degradation is None and config.blind is None
    assert [s.name for s in config.lr_images] == ["pair LR"]


def test_blind_range_goes_to_the_config(widget):
    from napari_sisr.widgets.train.job import build_config

    viewer, w = widget
    f = w.form
    f.deg.deg_mode.value = "blind range"
    f.deg.sigma_lo.value = 0.7
    f.deg.sigma_hi.value = 1.9
    config = build_config(viewer, f.values())
    assert config.degradation is None
    assert config.blind.sigma == (0.7, 1.9) and config.blind.scale == 2
    assert config.blind.content_sigma is None  # soft specimens off by default
    f.deg.soft_hi.value = 1.5
    assert build_config(viewer, f.values()).blind.content_sigma == (0.0, 1.5)
    assert config.blind.content_noise is None  # noisy specimens off by default
    f.deg.grain_hi.value = 0.03
    assert build_config(viewer, f.values()).blind.content_noise == (0.0, 0.03)
    f.deg.sigma_lo.value = 2.5  # min above max: named in the error
    with pytest.raises(ValueError, match="sigma"):
        build_config(viewer, f.values())


def test_early_stopping_goes_to_the_config(widget):
    from napari_sisr.widgets.train.job import build_config

    viewer, w = widget
    f = w.form
    f.training.iterations.value = 1500
    f.training.val_every.value = 200
    assert build_config(viewer, f.values()).patience == 500
    f.training.early_stop.value = False
    assert build_config(viewer, f.values()).patience == 0


def test_loaded_fit_is_used_exactly_unless_edited(widget, tmp_path):
    from napari_sisr.core.degradation.params import DegradationParams
    from napari_sisr.widgets.train.job import build_config

    viewer, w = widget
    fit = DegradationParams(
        scale=2, sigma=1.23456, sigma_y=1.1, sigma_x=1.3856, noise_var=7.0, offset=12.0
    )
    fit = DegradationParams(**{**fit.model_dump(), "source": "fit"})
    w.form.load_degradation(fit.save(tmp_path / "fit.json"))
    config = build_config(viewer, w.form.values(), loaded=w.form.loaded_params)
    assert config.degradation == fit  # shift, offset, anisotropy and full precision kept
    w.form.deg.sigma.value = 2.0
    config = build_config(viewer, w.form.values(), loaded=w.form.loaded_params)
    d = config.degradation
    # a typed sigma rescales the fitted PSF and keeps its shape (one meaning of sigma)
    assert d.sigma == pytest.approx(2.0) and d.source == "manual"
    assert d.sigma_y / d.sigma_x == pytest.approx(fit.sigma_y / fit.sigma_x)
    assert d.offset == 12.0 and d.noise_var == 7.0


def test_form_opens_with_the_core_defaults(make_napari_viewer):
    from napari_sisr import DegradationRange, TrainConfig

    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-sisr", "Train")
    d = {k: f.default for k, f in TrainConfig.model_fields.items()}
    f = w.form
    t = f.training
    assert (t.iterations.value, t.patch.value) == (d["iters"], d["patch"])
    assert t.batch.value == d["batch"]
    assert t.val_every.value == d["val_every"]
    assert d["patience"] is None and t.early_stop.value  # early stopping on
    assert t.device.value == d["device"]
    from napari_sisr.core.training.config import default_adversarial

    assert t.adversarial.value == default_adversarial("auto")  # on a CPU: off
    for scale in ("2", "4"):  # the blind PSF range follows the scale, as in core
        f.deg.scale.value = scale
        shown = (f.deg.sigma_lo.value, f.deg.sigma_hi.value)
        assert shown == pytest.approx(DegradationRange().for_scale(int(scale)).sigma)


def test_the_form_fits_a_narrow_dock_with_long_names(widget):
    """The form has no horizontal scroll bar: combo boxes as wide as their longest entry
    ("(none: a simulated held-out LR)", a long layer name) made it 540 px wide, and a dock
    narrower than that cut off the right part of every row."""
    viewer, w = widget
    viewer.add_image(np.zeros((64, 64), np.float32), name="a rather long layer name " * 3)
    w.reset_choices()
    assert w.native.minimumSizeHint().width() <= 400, w.native.minimumSizeHint().width()


def test_widget_and_command_line_build_the_same_request(make_napari_viewer, actin, tmp_path):
    """The same HR image, fit and run folder give the same training config from the form's
    defaults as from `napari-sisr train`'s: same start (the bundled model of the scale), same
    schedule, same validation split."""
    import tifffile

    from napari_sisr.cli import build_parser
    from napari_sisr.cli.train import build_config as cli_config
    from napari_sisr.core.degradation.params import DegradationParams
    from napari_sisr.widgets.train.job import build_config as widget_config

    hr = actin[:256, :256].astype(np.float32)
    tifffile.imwrite(tmp_path / "hr.tif", hr)
    fit = tmp_path / "fit.json"
    DegradationParams(scale=4, sigma=4.7, noise_var=0.25).save(fit)
    args = build_parser().parse_args(
        ["train", "--hr", str(tmp_path / "hr.tif"), "--degradation", str(fit), "--scale", "4",
         "--out", str(tmp_path / "cli")]
    )  # fmt: skip
    cli = cli_config(args)

    viewer = make_napari_viewer()
    viewer.add_image(hr, name="hr")
    _, w = viewer.window.add_plugin_dock_widget("napari-sisr", "Train")
    w.form.data.set_hr_layers(["hr"])
    w.form.load_degradation(fit)
    w.form.training.run_dir.value = tmp_path / "widget"
    widget = widget_config(viewer, w.form.values(), loaded=w.form.loaded_params)

    assert w.form.model.init_reference() == "auto"
    assert widget.init == cli.init == "default-4x"
    front_end_only = {"out", "preview_every"}  # where it goes; the widget's live preview
    assert widget.model_dump(exclude=front_end_only) == cli.model_dump(exclude=front_end_only)


def test_plot_ticks_of_steps_are_whole_numbers():
    """One validation at step 200 reads "200", not 199.5 / 200 / 200.5."""
    from napari_sisr.widgets._plot import nice_ticks, x_ticks

    assert 199.5 in nice_ticks(199.0, 201.0)
    assert x_ticks(199.0, 201.0, integer=True) == [199.0, 200.0, 201.0]
    assert x_ticks(0.0, 1.0, integer=True) == [0.0, 1.0]
    assert x_ticks(10.2, 10.8, integer=True) == [10.0]  # none whole inside: the nearest
    assert x_ticks(0.0, 1.0, integer=False) == nice_ticks(0.0, 1.0)


def test_status_line_names_losses_for_people():
    from napari_sisr.core.progress import TrainProgress
    from napari_sisr.widgets.train.widget import _status_text

    update = TrainProgress(
        12, 300, "content step 12/300", losses={"l_g_total": 0.02, "l_g_pix": 0.02, "d_real": 1.0}
    )
    text = _status_text(update)
    assert "total loss 0.02" in text and "pixel difference loss 0.02" in text
    assert "l_g_" not in text and "d_real" not in text
