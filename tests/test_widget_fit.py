"""The Fit degradation widget in a real napari viewer (run under Xvfb)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_sisr import DegradationParams, simulate_lr
from napari_sisr.widgets._layers import viewer_camera

pytestmark = pytest.mark.gui

TRUTH = DegradationParams(scale=2, sigma=1.6, shift_yx=(0.6, -0.4), gain=0.5, offset=20.0)
WAIT_MS = 30_000


@pytest.fixture
def pair(actin):
    """A real HR crop and an LR capture simulated from it with known parameters."""
    hr = actin[:256, :320].astype(np.float32)
    clean = simulate_lr(hr, TRUTH, noise=False)
    truth = TRUTH.model_copy(update={"noise_var": float((0.02 * np.ptp(clean)) ** 2)})
    return hr, simulate_lr(hr, truth, rng=np.random.default_rng(3)), truth


@pytest.fixture
def messages():
    """Notifications dispatched during the test, as (severity, message) pairs."""
    from napari.utils.notifications import notification_manager

    start = len(notification_manager.records)
    return lambda: [(str(n.severity), n.message) for n in notification_manager.records[start:]]


@pytest.fixture
def widget(make_napari_viewer, pair):
    from napari_sisr.widgets.fit.widget import FitDegradationWidget

    hr, lr, _ = pair
    viewer = make_napari_viewer()
    viewer.add_image(hr, name="HR")
    viewer.add_image(lr, name="LR", scale=(2, 2), translate=(0.5, 0.5))
    w = FitDegradationWidget(viewer)
    viewer.window.add_dock_widget(w, name="Fit degradation")
    return w


def _wait_idle(qtbot, runner):
    qtbot.waitUntil(lambda: not runner.busy, timeout=WAIT_MS)


def test_widget_is_discoverable_through_the_manifest(make_napari_viewer):
    from napari_sisr.widgets.fit.widget import FitDegradationWidget

    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-sisr", "Fit degradation")
    assert isinstance(w, FitDegradationWidget)


def _table(widget) -> dict:
    return dict(zip(widget.table.row_headers, (r[0] for r in widget.table.data), strict=True))


def test_fit_recovers_sigma_and_adds_aligned_layers(widget, pair, qtbot, messages):
    viewer, (_, lr, truth) = widget.viewer, pair
    # Before any fit the table shows no values (not the sliders' defaults as if fitted).
    assert set(_table(widget).values()) == {"-"}
    assert "no fit yet" in widget.verdict.value
    # The pair is picked automatically (largest = HR) and the scale read from layer.scale.
    assert (widget.hr_layer.value.name, widget.lr_layer.value.name) == ("HR", "LR")
    assert widget.scale.value == 2
    assert widget.fit() is not None
    _wait_idle(qtbot, widget.controls.runner)
    assert widget.controls.runner.last_state == "done", messages()
    fitted = widget.current_params()
    assert abs(fitted.sigma / truth.sigma - 1) < 0.1
    assert abs(fitted.noise_std / truth.noise_std - 1) < 0.1
    src = viewer.layers["LR"]
    for name in ("simulated LR", "residual"):
        layer = viewer.layers[name]
        assert layer.data.shape == lr.shape
        np.testing.assert_allclose(layer.scale, src.scale)
    # The simulated LR lies exactly over the LR, hidden (its eye blinks the two); the
    # residual lies below the LR and does not cover it.
    sim, res = viewer.layers["simulated LR"], viewer.layers["residual"]
    np.testing.assert_allclose(sim.translate, src.translate)
    assert not sim.visible and res.visible
    assert res.translate[0] >= src.translate[0] + lr.shape[0] * src.scale[0]
    np.testing.assert_allclose(res.translate[1], src.translate[1])
    residual = np.asarray(viewer.layers["residual"].data)
    assert abs(residual.std() / truth.noise_std - 1) < 0.15
    # The table shows the fit, and the preview sliders start from it.
    table = _table(widget)
    assert float(table["PSF sigma (HR px)"]) == pytest.approx(fitted.sigma, rel=1e-3)
    assert widget.preview.sigma.value == pytest.approx(fitted.sigma, abs=0.05)
    # Noise from the LR image itself: the same model, the capture's own noise, recorded so.
    widget.noise_from.value = "image"
    assert widget.fit() is not None
    _wait_idle(qtbot, widget.controls.runner)
    own = widget.current_params()
    assert own.notes["noise_from"] == "image" and own.sigma == pytest.approx(fitted.sigma)
    assert abs(own.noise_std / truth.noise_std - 1) < 0.25


def test_cancel_stops_the_fit_without_results(widget, qtbot, messages, monkeypatch):
    import threading

    from napari_sisr.core.degradation import pairs

    gate = threading.Event()

    def gated_iter_fit(*args, stop=None, **kwargs):
        from napari_sisr.core.degradation.fit import iter_fit

        gen = iter_fit(*args, stop=stop, **kwargs)
        first = next(gen)
        gate.set()
        yield first
        while not stop.is_set():  # hold the fit until the test cancels it
            stop.wait(0.01)
        return (yield from gen)

    monkeypatch.setattr(pairs, "iter_fit", gated_iter_fit)  # the widget's job fits through it
    worker = widget.fit()
    assert worker is not None and not widget.controls.run_button.enabled
    qtbot.waitUntil(gate.is_set, timeout=WAIT_MS)
    widget.controls.cancel_button.clicked()
    _wait_idle(qtbot, widget.controls.runner)
    assert widget.controls.runner.last_state == "cancelled"
    assert widget.controls.run_button.enabled
    assert "cancelled" in widget.controls.status.value
    assert any("cancelled" in m for sev, m in messages() if sev == "info")
    names = [layer.name for layer in widget.viewer.layers]
    assert "simulated LR" not in names and "residual" not in names


def test_lr_as_large_as_hr_is_an_error_notification(widget, pair, qtbot, messages):
    hr, _, _ = pair
    widget.viewer.add_image(hr[::-1].copy(), name="not smaller")
    widget.lr_layer.value = widget.viewer.layers["not smaller"]
    widget.scale.value = 2
    widget.fit()
    _wait_idle(qtbot, widget.controls.runner)
    assert widget.controls.runner.last_state == "failed"
    errors = [m for sev, m in messages() if sev == "error"]
    assert errors and "not smaller than HR" in errors[-1]
    assert "simulated LR" not in [layer.name for layer in widget.viewer.layers]


def test_a_layer_that_cannot_be_read_is_a_notification(widget, messages, monkeypatch):
    """Fit on a layer whose plane cannot be read for a reason no input check foresaw: a
    notification that asks for a report, not an exception out of the Fit button."""
    import napari_sisr.widgets.fit.widget as module

    def unreadable(*_a, **_k):
        raise RuntimeError("an unforeseen layer")

    monkeypatch.setattr(module, "layer_plane", unreadable)
    assert widget.fit() is None
    errors = [m for sev, m in messages() if sev == "error"]
    assert errors and errors[-1].startswith("Fit: internal error"), errors
    assert not widget.controls.runner.busy


def test_nan_and_same_layer_are_reported(widget, pair, qtbot, messages):
    _, lr, _ = pair
    widget.fit()
    _wait_idle(qtbot, widget.controls.runner)
    assert "finished" in widget.controls.status.value
    widget.lr_layer.value = widget.viewer.layers["HR"]
    assert widget.fit() is None  # refused before any thread starts
    # The status line says so: the previous fit's "finished in ..." does not stand beside it.
    assert "same layer" in widget.controls.status.value
    assert widget.controls.progress_bar.value == 0
    bad = lr.copy()
    bad[5, 7] = np.nan
    widget.viewer.add_image(bad, name="LR with NaN")
    widget.lr_layer.value = widget.viewer.layers["LR with NaN"]
    widget.fit()
    _wait_idle(qtbot, widget.controls.runner)
    errors = [m for sev, m in messages() if sev == "error"]
    assert "same layer" in errors[0]
    assert "NaN" in errors[-1]


def test_a_new_pair_drops_the_old_fit_and_outputs_are_never_picked(widget, pair, qtbot):
    """A newly opened pair does not inherit the previous pair's fit, and neither the fit's
    layers nor a super-resolved result (the largest layer) are picked as inputs."""
    viewer, (hr, lr, _) = widget.viewer, pair
    widget.fit()
    _wait_idle(qtbot, widget.controls.runner)
    fitted_sigma = widget.current_params().sigma
    assert _table(widget)["source"] == "fit"
    sr = np.zeros((4 * hr.shape[0], 4 * hr.shape[1]), np.float32)
    viewer.add_image(sr, name="HR (SR x4)", metadata={"napari_sisr": {"scale_factor": 4}})
    assert (widget.hr_layer.value.name, widget.lr_layer.value.name) == ("HR", "LR")
    for name in ("HR", "LR", "HR (SR x4)", "simulated LR", "residual"):
        viewer.layers.remove(name)
    viewer.add_image(hr[:, ::-1].copy(), name="HR 2")
    viewer.add_image(lr[:, ::-1].copy(), name="LR 2", scale=(2, 2))
    assert (widget.hr_layer.value.name, widget.lr_layer.value.name) == ("HR 2", "LR 2")
    assert set(_table(widget).values()) == {"-"}
    assert widget.preview.sigma.value != pytest.approx(fitted_sigma, abs=0.01)


def test_save_and_load_round_trip(widget, tmp_path, messages):
    p = DegradationParams(scale=3, sigma=2.345678, sigma_y=2.0, sigma_x=2.75, gain=0.0123456)
    p = p.model_copy(update={"noise_var": 0.5, "offset": 7.25, "residual_std": 0.7})
    path = tmp_path / "deg.json"
    p.save(path)
    assert widget.load_params(path) == p
    assert widget.scale.value == 3
    out = widget.save_params(tmp_path / "again.json")
    # Untouched sliders keep the exact loaded values (no slider rounding).
    assert DegradationParams.load(out) == p
    widget.preview.sigma.value = 4.0
    edited = DegradationParams.load(widget.save_params(tmp_path / "edited.json"))
    assert edited.sigma == pytest.approx(4.0, abs=0.05) and edited.source == "manual"
    assert edited.sigma_y / edited.sigma_x == pytest.approx(2.0 / 2.75)
    assert edited.residual_std is None
    (tmp_path / "broken.json").write_text(json.dumps({"sigma": -1}))
    assert widget.load_params(tmp_path / "broken.json") is None
    assert any(sev == "error" and "broken.json" in m for sev, m in messages())


def test_preview_follows_the_sigma_slider(widget, qtbot):
    viewer = widget.viewer
    widget.preview.enabled_box.value = True
    qtbot.waitUntil(lambda: "simulated LR (preview)" in viewer.layers, timeout=WAIT_MS)
    _wait_idle(qtbot, widget._preview_runner)
    layer = viewer.layers["simulated LR (preview)"]
    before = np.array(layer.data)
    lr = viewer.layers["LR"]
    # Beside the LR layer, on the same pixel grid.
    np.testing.assert_allclose(layer.scale, lr.scale)
    assert layer.translate[1] >= lr.translate[1] + lr.data.shape[1] * lr.scale[1]
    # The view moved to show the LR and the preview beside it (not off-screen).
    right = layer.translate[1] + layer.data.shape[1] * layer.scale[1]
    lr_middle = lr.translate[1] + lr.data.shape[1] * lr.scale[1] / 2
    assert lr_middle < viewer_camera(viewer).center[-1] < right
    widget.preview.sigma.value = 5.0
    qtbot.waitUntil(lambda: not np.array_equal(np.asarray(layer.data), before), timeout=WAIT_MS)
    after = np.asarray(layer.data)
    # A wider PSF smooths the image: less high-frequency content.
    assert np.abs(np.diff(after, axis=1)).mean() < np.abs(np.diff(before, axis=1)).mean()


def test_layer_plane_follows_dims_and_channels():
    from napari.layers import Image

    from napari_sisr.widgets._layers import layer_plane

    stack = np.arange(3 * 8 * 10, dtype=np.float32).reshape(3, 8, 10)
    layer = Image(stack, name="z", scale=(2.0, 0.5, 0.5), translate=(0.0, 1.0, 2.0))
    plane = layer_plane(layer, point=(4.0, 0.0, 0.0))
    assert plane.index == (2,) and plane.scale == (0.5, 0.5) and plane.translate == (1.0, 2.0)
    np.testing.assert_array_equal(np.asarray(plane.data), stack[2])
    with pytest.raises(ValueError, match="outside layer 'z'"):
        layer_plane(layer, point=(10.0, 0.0, 0.0))
    rgb = np.random.default_rng(0).integers(0, 255, (8, 10, 3)).astype(np.uint8)
    rgb_layer = Image(rgb, rgb=True, name="rgb")
    np.testing.assert_array_equal(np.asarray(layer_plane(rgb_layer, channel=1).data), rgb[..., 1])
    lum = np.asarray(layer_plane(rgb_layer).data)
    np.testing.assert_allclose(lum, rgb @ np.array([0.2126, 0.7152, 0.0722]))
    assert layer_plane(rgb_layer).data[2:4, 1:5].shape == (2, 4)


def test_fit_uses_the_current_plane_of_a_stack(make_napari_viewer, actin, qtbot, messages):
    from napari_sisr.widgets.fit.widget import FitDegradationWidget

    # Three different real planes; the LR stack is degraded with a plane-specific sigma.
    hr = np.stack([actin[:192, :192], actin[200:392, :192], actin[316:508, :192]])
    sigmas = (1.0, 2.5, 1.5)
    lr = np.stack(
        [
            simulate_lr(h, TRUTH.model_copy(update={"sigma": s}), noise=False)
            for h, s in zip(hr, sigmas, strict=True)
        ]
    )
    viewer = make_napari_viewer()
    viewer.add_image(hr.astype(np.float32), name="HR stack")
    viewer.add_image(lr, name="LR stack", scale=(1, 2, 2))
    w = FitDegradationWidget(viewer)
    viewer.dims.set_current_step(0, 1)
    w.fit()
    _wait_idle(qtbot, w.controls.runner)
    assert w.controls.runner.last_state == "done", messages()
    fitted = w.current_params()
    assert fitted.notes["plane"] == [1]
    assert fitted.sigma == pytest.approx(sigmas[1], rel=0.05)
    assert viewer.layers["simulated LR"].data.shape == lr.shape[1:]


def test_destroying_the_widget_stops_its_fit(widget, qtbot, monkeypatch):
    from qtpy.QtCore import QThreadPool

    from napari_sisr.core.degradation import pairs
    from napari_sisr.core.degradation.fit import iter_fit
    from napari_sisr.core.progress import Progress

    seen = {}

    def held_iter_fit(*args, stop=None, **kwargs):
        seen["stop"] = stop
        yield Progress(0, 5, "held")
        while not stop.is_set():
            stop.wait(0.01)
        return (yield from iter_fit(*args, stop=stop, **kwargs))

    monkeypatch.setattr(pairs, "iter_fit", held_iter_fit)
    runner = widget.controls.runner
    assert widget.fit() is not None
    qtbot.waitUntil(lambda: "stop" in seen, timeout=WAIT_MS)
    widget.native.deleteLater()
    qtbot.waitUntil(lambda: seen["stop"].is_set(), timeout=WAIT_MS)
    assert QThreadPool.globalInstance().waitForDone(WAIT_MS)
    assert not runner.busy
    assert "simulated LR" not in [layer.name for layer in widget.viewer.layers]


def test_train_on_this_pair_fills_the_train_widget(widget, qtbot, messages, tmp_path):
    from napari_sisr.core.training.config import REAL_FRACTION
    from napari_sisr.widgets.train.job import build_config

    assert widget.fit() is not None
    _wait_idle(qtbot, widget.controls.runner)
    fitted = widget.current_params()
    train = widget.train_on_pair()
    assert train is not None and not [m for sev, m in messages() if sev == "error"]
    assert train.form.data.hr_layer_names() == ["HR"]
    values = {**train.form.values(), "run_dir": str(tmp_path / "run")}
    config = build_config(widget.viewer, values, loaded=train.form.loaded_params)
    assert config.degradation == fitted  # the fit itself, to full precision
    assert config.scale == fitted.scale and [s.name for s in config.hr] == ["HR"]
    assert [s.name for s in config.real_lr] == ["LR"]  # trained in part, validated on it
    assert config.real_fraction == REAL_FRACTION
    assert "Fit widget" in train.form.deg.deg_source.value
    # the same Train widget is reused on a second click
    assert widget.train_on_pair() is train


def test_a_failed_fit_is_shown_in_colour_and_saved_only_when_confirmed(
    widget, qtbot, tmp_path, monkeypatch
):
    lr = widget.viewer.layers["LR"]
    lr.scale = (4, 4)  # pixel sizes that contradict the scale 2 the shapes give
    assert widget.fit() is not None
    _wait_idle(qtbot, widget.controls.runner)
    assert "fit failed" in widget.verdict.value and "pixel sizes" in widget.verdict.value
    asked = []
    cls = type(widget)
    monkeypatch.setattr(cls, "confirm", lambda self, q: asked.append(q) or False)
    assert widget.save_params(tmp_path / "p.json") is None and asked
    assert not (tmp_path / "p.json").exists()
    monkeypatch.setattr(cls, "confirm", lambda self, q: True)
    assert widget.save_params(tmp_path / "p.json") is not None
    lr.scale = (2, 2)
    assert widget.fit() is not None
    _wait_idle(qtbot, widget.controls.runner)
    assert "fit ok" in widget.verdict.value


def test_the_tirf_storm_sample_fits_from_the_widget(make_napari_viewer, qtbot, messages):
    """A real pair 7.31 HR px per LR px apart: the ratio comes from the layers' pixel sizes,
    the HR plane is resampled to the integer scale, and the fit passes its checks."""
    from napari_sisr.sample_data import napari_tirf_storm
    from napari_sisr.widgets.fit.widget import FitDegradationWidget

    viewer = make_napari_viewer()
    for data, kwargs, _ in napari_tirf_storm():
        viewer.add_image(data, **kwargs)
    w = FitDegradationWidget(viewer)
    viewer.window.add_dock_widget(w, name="Fit degradation")
    assert w.hr_layer.value.name.endswith("STORM (HR)")
    assert float(w.ratio.value) == pytest.approx(7.31, abs=0.02)
    assert w.scale.value == 7
    w.fit()
    qtbot.waitUntil(lambda: not w.controls.runner.busy, timeout=120_000)
    assert w.controls.runner.last_state == "done", messages()
    p = w.current_params()
    assert p.notes["hr_resampled"]["ratio"] == pytest.approx(float(w.ratio.value))
    assert p.notes["quality"]["verdict"] != "failed", p.notes["quality"]
    assert 1.0 < p.sigma < 0.9 * 24  # not at a search bound
    assert max(abs(v) for v in p.shift_yx) < 7 * 4
    # "auto" estimates the ratio by registration and shows the estimate.
    w.ratio.value = "auto"
    w.fit()
    qtbot.waitUntil(lambda: not w.controls.runner.busy, timeout=120_000)
    assert w.controls.runner.last_state == "done", messages()
    assert float(w.ratio.value) == pytest.approx(7.31, abs=0.03)
    w.ratio.value = "seven"
    assert w.fit() is None
    assert "HR px per LR px" in w.controls.status.value
