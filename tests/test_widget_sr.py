"""The Super-resolve widget in a real napari viewer (run under Xvfb)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path

from napari_sisr.core.modelio import save_model
from napari_sisr.widgets._layers import viewer_camera

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("private_model_registry")]

TILE = 32


def _tiny_model(path, channels=1):
    import torch

    from napari_sisr.core.archs import build_generator

    torch.manual_seed(0)
    net = build_generator("srresnet", "fast", 2, channels, n_blocks=1, nf=8)
    return save_model(path, net, {})


@pytest.fixture
def model_path(tmp_path):
    return _tiny_model(tmp_path / "models" / "tiny_x2")


@pytest.fixture
def rgb_model_path(tmp_path):
    return _tiny_model(tmp_path / "models" / "tiny_rgb_x2", channels=3)


@pytest.fixture
def widget(make_napari_viewer, model_path):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-sisr", "Super-resolve")
    w.set_model(model_path)
    w.tile.value = TILE
    return viewer, w


def _run(qtbot, w, timeout=60_000):
    worker = w.run()
    assert worker is not None, "run() refused to start"
    qtbot.waitUntil(lambda: not w.running, timeout=timeout)
    return worker


def _reference(data, model_path, **kw):
    import napari_sisr

    kw.setdefault("tile", TILE)
    return np.asarray(napari_sisr.predict(data, str(model_path), device="cpu", **kw))


def _errors_since(n):
    from napari.utils.notifications import notification_manager

    return [str(r.message) for r in notification_manager.records[n:]]


def _n_records():
    from napari.utils.notifications import notification_manager

    return len(notification_manager.records)


def _result(viewer, source: str):
    """The result layer of ``source`` (named ``<source> x<s> SR (<model>)``), or None."""
    found = [
        lyr for lyr in viewer.layers
        if lyr.name.startswith(f"{source} x") and " SR (" in lyr.name
        and not lyr.name.endswith(("(live)", " evidence"))
    ]  # fmt: skip
    assert len(found) <= 1, [lyr.name for lyr in found]
    return found[0] if found else None


def _assert_centres_align(src, sr, s):
    """World positions of result pixel centres = sub-pixel positions inside the source pixel."""
    rng = np.random.default_rng(1)
    for _ in range(5):
        j = np.array([rng.integers(0, n) for n in sr.data.shape[: sr.ndim]], dtype=float)
        i = j.copy()
        i[-2:] = (j[-2:] + 0.5) / s - 0.5
        np.testing.assert_allclose(sr.data_to_world(j), src.data_to_world(i), atol=1e-9)


def test_2d_result_matches_predict_and_overlays_source(qtbot, widget, nuclei, model_path):
    viewer, w = widget
    img = nuclei[100:164, 200:280]
    src = viewer.add_image(
        img, name="nuclei", scale=(0.5, 0.25), translate=(10, -3), colormap="magma"
    )
    _run(qtbot, w)
    sr = _result(viewer, "nuclei")
    assert sr.data.shape == (128, 160)
    np.testing.assert_allclose(sr.scale, (0.25, 0.125))
    np.testing.assert_allclose(sr.translate, (10 - 0.25 * 0.5, -3 - 0.125 * 0.5))
    _assert_centres_align(src, sr, 2)
    np.testing.assert_array_equal(np.asarray(sr.data), _reference(img, model_path))
    assert sr.colormap.name == "magma"
    assert sr.blending == src.blending
    assert "finished" in w.controls.status.value
    assert list(viewer.layers.selection) == [src]  # the next click runs on the source again


def test_another_tools_bioimage_io_package_runs_like_predict(qtbot, widget, nuclei, tmp_path):
    import torch
    from conftest import tiny_generator
    from test_bmz_foreign import make_package

    pytest.importorskip("onnxruntime")
    viewer, w = widget
    with torch.inference_mode(False):
        pkg = make_package(tmp_path, tiny_generator(scale=2))
    w.set_model(str(pkg))
    assert "bioimage.io" in w.model_info.value and "x2" in w.model_info.value
    img = nuclei[100:164, 200:280]
    viewer.add_image(img, name="nuclei")
    _run(qtbot, w)
    sr = _result(viewer, "nuclei")
    np.testing.assert_array_equal(np.asarray(sr.data), _reference(img, pkg))


def test_rotated_source_still_aligns(qtbot, widget, nuclei):
    viewer, w = widget
    src = viewer.add_image(nuclei[:40, :48], name="rot", scale=(2, 3), rotate=30)
    _run(qtbot, w)
    _assert_centres_align(src, _result(viewer, "rot"), 2)


def test_zstack_keeps_slider_axis(qtbot, widget, model_path):
    import tifffile

    viewer, w = widget
    stack = tifffile.imread(shared_path("stack_3d/arabidopsis_embryo_zyx.tif"))[40:43, 30:70, 30:78]
    src = viewer.add_image(stack, name="embryo", scale=(0.35, 0.79, 0.79), translate=(5, 0, 0))
    _run(qtbot, w)
    sr = _result(viewer, "embryo")
    assert sr.data.shape == (3, 80, 96)
    assert sr.scale[0] == pytest.approx(0.35) and sr.translate[0] == pytest.approx(5)
    _assert_centres_align(src, sr, 2)
    np.testing.assert_array_equal(np.asarray(sr.data), _reference(stack, model_path))


def test_rgb_stays_rgb(qtbot, widget, rgb_model_path):
    import imageio.v3 as iio

    viewer, w = widget
    w.set_model(rgb_model_path)
    rgb = iio.imread(shared_path("histology/he_tcia.jpg"))[:40, :56]
    src = viewer.add_image(rgb, name="he")
    assert src.rgb
    _run(qtbot, w)
    sr = _result(viewer, "he")
    assert sr.rgb and sr.data.shape == (80, 112, 3)
    _assert_centres_align(src, sr, 2)
    np.testing.assert_array_equal(np.asarray(sr.data), _reference(rgb, rgb_model_path, rgb=True))


def test_all_image_layers_batch(qtbot, widget, nuclei, model_path):
    viewer, w = widget
    a, b = nuclei[:32, :32], nuclei[32:64, :48]
    viewer.add_image(a, name="a")
    viewer.add_image(b, name="b")
    viewer.add_labels(np.zeros((32, 32), dtype=np.uint8), name="mask")
    w.all_layers.value = True
    _run(qtbot, w)
    # each layer gets its own result (not the other's, not a mix)
    np.testing.assert_array_equal(_result(viewer, "a").data, _reference(a, model_path))
    np.testing.assert_array_equal(_result(viewer, "b").data, _reference(b, model_path))
    assert _result(viewer, "mask") is None


def _hold_predict(monkeypatch, ready):
    """Hold the Super-resolve job at the first update that is ``ready``, until the test cancels
    it: cancelling then stops a job that is really under way, never one not yet started.
    ``held`` is set while the job is held; ``resumed`` records, per run, how many tiles an
    interrupted output already held when it began."""
    import threading
    from types import SimpleNamespace

    from napari_sisr.core.inference import predict as predict_module

    real = predict_module.iter_predict
    held = threading.Event()
    resumed: list[int] = []

    def gated(*args, stop=None, **kwargs):
        gen = real(*args, stop=stop, **kwargs)
        update = next(gen)
        resumed.append(update.resumed)
        while True:
            yield update
            if ready(update) and not held.is_set():
                held.set()
                while not stop.is_set():
                    stop.wait(0.01)
            try:
                update = gen.send(None)
            except StopIteration as end:
                return end.value

    monkeypatch.setattr(predict_module, "iter_predict", gated)
    return SimpleNamespace(held=held, resumed=resumed)


@pytest.fixture
def held_job(monkeypatch):
    """The job held once a first tile is done (tiles done, tiles to do)."""
    return _hold_predict(monkeypatch, lambda update: update.done > update.resumed)


def test_cancel_leaves_no_result(qtbot, widget, nuclei, held_job):
    viewer, w = widget
    viewer.add_image(nuclei[:128, :128], name="big")
    w.tile.value = 16
    w.run()
    qtbot.waitUntil(held_job.held.is_set, timeout=60_000)  # under way: some tiles done
    w.cancel()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    assert [lyr.name for lyr in viewer.layers] == ["big"]
    assert w.controls.runner.last_state == "cancelled"
    assert "cancel" in w.controls.status.value


def test_cancel_keeps_the_frames_already_done(qtbot, widget, nuclei, model_path, monkeypatch):
    """Cancel on a time-lapse keeps the frames finished (each as a whole run makes it) as a
    layer that says it is a part; the status counts frames."""
    held = _hold_predict(monkeypatch, lambda update: update.planes_done >= 2)
    viewer, w = widget
    movie = np.stack([np.roll(nuclei[:48, :48], 5 * k, axis=0) for k in range(6)])
    viewer.add_image(movie, name="movie")
    w.tile.value = 16
    statuses = []
    shown = w.controls.runner._set_status
    monkeypatch.setattr(w.controls.runner, "_set_status", lambda t: (statuses.append(t), shown(t)))
    w.run()
    qtbot.waitUntil(held.held.is_set, timeout=60_000)
    w.cancel()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    assert w.controls.runner.last_state == "cancelled"
    assert any("of 6 planes done" in s for s in statuses), statuses
    kept = [lyr for lyr in viewer.layers if "of 6 planes]" in lyr.name]
    assert len(kept) == 1, [lyr.name for lyr in viewer.layers]
    n = kept[0].data.shape[0]
    assert 2 <= n < 6 and kept[0].name.endswith(f"[first {n} of 6 planes]")
    assert kept[0].metadata["napari_sisr"]["partial"] == {"planes": n, "of": 6, "axis": 0}
    whole = _reference(movie, model_path, tile=16, halo="auto")
    np.testing.assert_array_equal(kept[0].data, whole[:n])
    assert f"kept the first {n} of 6 planes" in w.controls.status.value


def test_model_is_cached_between_runs(qtbot, widget, nuclei):
    viewer, w = widget
    viewer.add_image(nuclei[:32, :32], name="a")
    _run(qtbot, w)
    net = next(iter(w.state.cache._nets.values()))
    viewer.layers.selection = {viewer.layers["a"]}
    _run(qtbot, w)
    assert len(w.state.cache) == 1 and next(iter(w.state.cache._nets.values())) is net


@pytest.mark.parametrize(
    "case, expected",
    [
        ("nan", "nan"),
        ("channels", "expects 3-channel input"),
        ("too_small", "smaller than the model's minimum"),
        ("no_layer", "no image layer"),
        ("missing_model", "not found"),
    ],
)
def test_bad_input_gives_notification(qtbot, widget, nuclei, case, expected, tmp_path):
    viewer, w = widget
    img = nuclei[:48, :48].astype(np.float32)
    if case == "nan":
        img[5, 7] = np.nan
        viewer.add_image(img, name="bad")
    elif case == "channels":  # a 3-channel model on a single-channel image
        w.set_model(_tiny_model(tmp_path / "rgb3", channels=3))
        viewer.add_image(img, name="bad")
    elif case == "too_small":
        import torch

        from napari_sisr.core.archs import build_generator

        net = build_generator("srresnet", "fast", 2, 1, n_blocks=1, nf=8)
        with torch.no_grad():
            w.set_model(save_model(tmp_path / "min16", net, {"min_input_size": 16}))
        viewer.add_image(img[:8, :8], name="bad")
    elif case == "missing_model":  # the chosen model's files disappeared since
        viewer.add_image(img, name="bad")
        for f in (tmp_path / "models").glob("tiny_x2.*"):
            f.unlink()
    n = _n_records()
    worker = w.run()
    if worker is not None:
        qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    messages = " | ".join(_errors_since(n)).lower()
    assert expected.lower() in messages, messages
    assert not any(lyr.name.endswith("SR") for lyr in viewer.layers)
    assert w.controls.run_button.enabled  # ready for the next try


def test_omezarr_output_is_zarr_backed_multiscale(qtbot, widget, nuclei, model_path, tmp_path):
    import dask.array as da

    viewer, w = widget
    img = nuclei[:256, :256]
    src = viewer.add_image(img, name="n", scale=(0.3, 0.3))
    out = tmp_path / "out.ome.zarr"
    w.output.value = "OME-Zarr file"
    w.out_path.value = out
    w.tile.value = 64
    _run(qtbot, w)
    sr = _result(viewer, "n")
    assert sr.multiscale and len(sr.data) >= 2
    assert all(isinstance(level, da.Array) for level in sr.data)
    assert sr.data[0].shape == (512, 512) and sr.data[1].shape == (256, 256)
    _assert_centres_align(src, sr, 2)
    np.testing.assert_array_equal(
        np.asarray(sr.data[0]), _reference(img, model_path, tile=64, halo="auto")
    )

    # a finished output is not replaced silently...
    viewer.layers.remove(sr)
    viewer.layers.selection = {src}
    n = _n_records()
    _run(qtbot, w)
    assert "exists" in " | ".join(_errors_since(n))
    assert _result(viewer, "n") is None
    # ...unless asked to
    w.overwrite.value = True
    _run(qtbot, w)
    assert _result(viewer, "n") is not None


def test_cancelled_omezarr_leaves_no_layer_and_rerun_finishes(
    qtbot, widget, nuclei, model_path, tmp_path, held_job
):
    import zarr

    from napari_sisr.core.io.omezarr import read_state

    viewer, w = widget
    img = nuclei[:128, :128]
    viewer.add_image(img, name="n")
    out = tmp_path / "out.ome.zarr"
    w.output.value = "OME-Zarr file"
    w.out_path.value = out
    w.tile.value = 16
    w.run()
    qtbot.waitUntil(held_job.held.is_set, timeout=60_000)  # under way: some tiles written
    w.cancel()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    assert _result(viewer, "n") is None
    state = read_state(out)  # never marked complete, no multiscales metadata
    done = sum(b - a for a, b in state["done_chunks"])
    assert not state["complete"] and 0 < done < state["total_chunks"]
    assert "multiscales" not in dict(zarr.open_group(str(out), mode="r").attrs)
    _run(qtbot, w)  # the same job again picks up the interrupted output
    assert held_job.resumed == [0, done]
    sr = _result(viewer, "n")
    data = sr.data[0] if sr.multiscale else sr.data
    np.testing.assert_array_equal(np.asarray(data), _reference(img, model_path, tile=16))


def test_registry_lists_registered_models(model_path, tmp_path):
    from napari_sisr.widgets._models import ModelRegistry, available_models, register_model

    ref = register_model(model_path)
    assert str(ref) in available_models().values()
    # persisted: a fresh registry on the same file sees it
    again = ModelRegistry(tmp_path / "config" / "models.json")
    assert str(ref) in again.available().values()
    with pytest.raises(FileNotFoundError):
        register_model(tmp_path / "missing.json")


def test_docks_and_follows_selection(widget, nuclei, model_path):
    viewer, w = widget
    a = viewer.add_image(nuclei[:32, :32], name="a")
    b = viewer.add_image(nuclei[:32, :32], name="b")
    assert w.layers.value == [b]  # the newest layer is selected
    viewer.layers.selection = {a, b}
    assert set(w.layers.value) == {a, b}
    a.name = "renamed"
    assert "renamed" in [c for c in w.layers.choices if hasattr(c, "name") and c.name] or any(
        lyr.name == "renamed" for lyr in w.layers.choices
    )
    assert w.model.value == str(model_path)
    assert "x2" in w.model_info.value and "1 channel" in w.model_info.value


def test_live_preview_matches_full_run_and_follows_the_view(
    qtbot, make_napari_viewer, nuclei, model_path
):
    viewer = make_napari_viewer(show=True)
    _, w = viewer.window.add_plugin_dock_widget("napari-sisr", "Super-resolve")
    w.set_model(model_path)
    w.tile.value = TILE
    img = nuclei[:160, :200]
    src = viewer.add_image(img, name="n", scale=(0.5, 0.5), translate=(3, 4))
    full = _reference(img, model_path)
    viewer_camera(viewer).center = (3 + 20, 4 + 30)
    viewer_camera(viewer).zoom = viewer_camera(viewer).zoom * 4
    w.live.enabled_box.value = True
    name = "n x2 SR (tiny_x2) (live)"
    qtbot.waitUntil(lambda: name in viewer.layers and not w.live.runner.busy, timeout=60_000)
    first = viewer.layers[name]
    _assert_window_matches(src, first, full)
    assert list(viewer.layers.selection) == [src]
    assert w.chosen_layers() == [src]  # a preview is never a source
    old = tuple(first.translate)
    viewer_camera(viewer).center = (3 + 50, 4 + 60)
    qtbot.waitUntil(lambda: tuple(viewer.layers[name].translate) != old, timeout=60_000)
    qtbot.waitUntil(lambda: not w.live.runner.busy, timeout=60_000)
    _assert_window_matches(src, viewer.layers[name], full)
    # new data in the source layer: the preview shows the new data's result, never the old
    other = nuclei[160:320, :200]
    src.data = other
    w.live.refresh()
    qtbot.waitUntil(lambda: not w.live.runner.busy, timeout=60_000)
    _assert_window_matches(src, viewer.layers[name], _reference(other, model_path))
    w.live.enabled_box.value = False
    assert name not in viewer.layers


def _assert_window_matches(src, live, full):
    """The preview equals the full run where it lies, and sits where that part belongs."""
    s = 2
    origin = np.rint(
        (np.asarray(live.translate) - np.asarray(src.translate)) / np.asarray(live.scale)
        + (s - 1) / 2
    ).astype(int)
    h, w = live.data.shape
    assert h > 0 and w > 0
    np.testing.assert_array_equal(
        live.data, full[origin[0] : origin[0] + h, origin[1] : origin[1] + w]
    )
    _assert_centres_align_offset(src, live, s, origin)


def _assert_centres_align_offset(src, live, s, origin):
    for j in ([0, 0], [live.data.shape[0] - 1, live.data.shape[1] - 1]):
        jj = np.asarray(j, float) + origin
        np.testing.assert_allclose(
            live.data_to_world(np.asarray(j, float)), src.data_to_world((jj + 0.5) / s - 0.5)
        )


def test_registered_model_appears_in_open_widget(widget, tmp_path):
    from napari_sisr.widgets._models import register_model

    _, w = widget
    ref = register_model(_tiny_model(tmp_path / "trained" / "new_model"))
    assert str(ref) in [c for c in w.model.choices]
    (tmp_path / "trained" / "new_model.safetensors").unlink()  # deleted on disk: dropped
    w.model.reset_choices()
    assert str(ref) not in [c for c in w.model.choices]


def test_manual_halo_reaches_inference(qtbot, widget, nuclei, model_path):
    viewer, w = widget
    img = nuclei[:64, :64]
    viewer.add_image(img, name="h")
    assert w.halo_auto.value and not w.halo.enabled
    from napari_sisr.core.modelio import read_model_meta

    assert w.halo.value == read_model_meta(model_path)["receptive_field"]  # what auto uses
    w.halo_auto.value = False
    w.halo.value = 1
    w.tile.value = 16
    _run(qtbot, w)
    got = np.asarray(_result(viewer, "h").data)
    np.testing.assert_array_equal(got, _reference(img, model_path, tile=16, halo=1))
    assert not np.array_equal(got, _reference(img, model_path, tile=16))  # halo matters here


def test_ensemble_box_reaches_inference(qtbot, widget, nuclei, model_path):
    viewer, w = widget
    img = nuclei[:48, :56]
    viewer.add_image(img, name="e")
    assert not w.ensemble.value  # off by default: 8x the compute
    w.ensemble.value = True
    _run(qtbot, w)
    got = np.asarray(_result(viewer, "e").data)
    np.testing.assert_array_equal(got, _reference(img, model_path, ensemble=True))
    assert not np.array_equal(got, _reference(img, model_path))


def test_controls_open_with_the_core_defaults(widget):
    from napari_sisr import PredictConfig

    _, w = widget
    default = PredictConfig()
    assert w.tile.value == TILE  # the fixture sets it; a fresh widget shows the default
    fresh = type(w)(w.viewer)
    assert fresh.tile.value == default.tile and fresh.device.value == default.device
    assert fresh.precision.value == default.precision and fresh.halo_auto.value
    assert fresh.ensemble.value == default.ensemble


def test_result_is_scored_against_a_reference_layer(qtbot, widget, actin, model_path):
    from napari_sisr import DegradationParams, simulate_lr

    viewer, w = widget
    hr = actin[:128, :160].astype(np.float32)
    lr = simulate_lr(hr, DegradationParams(scale=2, sigma=1.0), rng=np.random.default_rng(0))
    viewer.add_image(hr, name="hr")
    src = viewer.add_image(lr, name="lr")
    viewer.layers.selection = {src}
    w.scoring.reference.reset_choices()
    w.scoring.reference.value = viewer.layers["hr"]
    assert w.scoring.score() is None  # no result yet: a notification, no job
    _run(qtbot, w)
    narrow = _widest(w)
    worker = w.scoring.score()
    assert worker is not None
    qtbot.waitUntil(lambda: not w.scoring.runner.busy, timeout=60_000)
    table = w.scoring.table.value
    assert "bicubic + RL" in table and "lr x2 SR (tiny_x2)" in table and "PSNR" in table
    assert "registered by a shift of" in table and "border of" in table
    # the notes and a long layer name wrap: as aligned text they widened the dock to 1100 px
    assert _widest(w) <= narrow, (_widest(w), narrow)
    label = w.scoring.table.native  # and it is as tall as its wrapped lines
    assert label.minimumHeight() >= label.heightForWidth(label.width()) > 0


def test_score_reads_the_newest_result_of_the_layer(qtbot, widget, actin, model_path, tmp_path):
    """Two runs with two models: each result is named after its model, and the score is of
    the result just made (held by the widget), never of an older one found by its name."""
    from napari_sisr import DegradationParams, simulate_lr

    viewer, w = widget
    hr = actin[:128, :160].astype(np.float32)
    lr = simulate_lr(hr, DegradationParams(scale=2, sigma=1.0), rng=np.random.default_rng(0))
    viewer.add_image(hr, name="hr")
    src = viewer.add_image(lr, name="lr")
    viewer.layers.selection = {src}
    w.scoring.reference.reset_choices()
    w.scoring.reference.value = viewer.layers["hr"]
    _run(qtbot, w)
    first = viewer.layers["lr x2 SR (tiny_x2)"]
    other = _tiny_model(tmp_path / "models" / "other_x2")
    import torch

    from napari_sisr.core.archs import build_generator

    torch.manual_seed(5)  # other weights: another result
    save_model(other, build_generator("srresnet", "fast", 2, 1, n_blocks=1, nf=8), {})
    w.set_model(other)
    _run(qtbot, w)
    second = viewer.layers["lr x2 SR (other_x2)"]
    assert not np.array_equal(np.asarray(first.data), np.asarray(second.data))
    w.scoring.score()
    qtbot.waitUntil(lambda: not w.scoring.runner.busy, timeout=60_000)
    assert "lr x2 SR (other_x2)" in w.scoring.table.value
    from napari_sisr.core.evaluation.scoring import evaluate

    want = evaluate(lr, hr, 2, sr=np.asarray(second.data), label="x")
    assert w.scoring.scored.scores[second.name] == want.scores["x"]


def _widest(w) -> int:
    """The widest minimum any part of the widget asks of the dock, in px."""
    from qtpy.QtWidgets import QWidget

    return max(c.minimumSizeHint().width() for c in w.native.findChildren(QWidget))


def test_opens_with_the_default_model_chosen(make_napari_viewer, nuclei, qtbot):
    from napari_sisr.core.modelio import DEFAULT_MODEL

    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-sisr", "Super-resolve")
    assert w.model.value == DEFAULT_MODEL and "x4" in w.model_info.value
    viewer.add_image(nuclei[:48, :48], name="n")
    _run(qtbot, w)  # the first click works, no model to pick first
    import napari_sisr

    expected = np.asarray(napari_sisr.predict(nuclei[:48, :48], DEFAULT_MODEL))
    np.testing.assert_array_equal(_result(viewer, "n").data, expected)


def test_trained_models_are_listed_by_run_with_their_gain_and_removable(widget, tmp_path):
    import json

    from napari_sisr.widgets._models import register_model

    _, w = widget
    path = _tiny_model(tmp_path / "runs" / "cells-2026" / "model")
    meta = json.loads(path.read_text())
    meta["validation"] = {"psnr": 31.5, "psnr_bicubic": 30.25}
    path.write_text(json.dumps(meta))
    ref = str(register_model(path))
    labels = {v: k for k, v in w._registry.available().items()}
    assert labels[ref] == "cells-2026 (+1.25 dB vs bicubic)"
    w.model.value = ref
    assert w.forget_button.enabled
    w.forget_button.changed.emit(True)
    assert ref not in w._registry.available().values() and path.exists()  # files stay
    w.model.value = "default-4x"
    assert not w.forget_button.enabled  # bundled models cannot be removed


def test_an_image_unlike_the_training_images_gets_a_warning(qtbot, widget):
    from skimage.data import cell

    viewer, w = widget
    w.model.value = "default-4x"
    phase = cell().astype(np.float32)[:256, :256].reshape(64, 4, 64, 4).mean(axis=(1, 3))
    viewer.add_image(phase, name="phase")
    n = _n_records()
    _run(qtbot, w)
    assert any("trained on widefield fluorescence" in m for m in _errors_since(n))
    assert _result(viewer, "phase") is not None  # a warning, not a refusal


def test_units_and_axis_labels_follow_the_source(qtbot, widget, nuclei, tmp_path):
    """A calibrated source (micrometres, named axes) gives a result with the same units and
    labels, as a layer and in the OME-Zarr written from the widget."""
    import json

    viewer, w = widget
    src = viewer.add_image(
        nuclei[:64, :64], name="cal", scale=(0.3, 0.3), units=("um", "um"), axis_labels=("y", "x")
    )
    viewer.layers.selection = {src}
    _run(qtbot, w)
    sr = _result(viewer, "cal")
    assert [str(u) for u in sr.units] == ["micrometer", "micrometer"]
    assert tuple(sr.axis_labels) == ("y", "x")
    np.testing.assert_allclose(sr.scale, (0.15, 0.15))
    viewer.layers.remove(sr)
    out = tmp_path / "cal.ome.zarr"
    w.output.value = "OME-Zarr file"
    w.out_path.value = out
    _run(qtbot, w)
    attrs = out / "zarr.json" if (out / "zarr.json").exists() else out / ".zattrs"
    meta = json.loads(attrs.read_text())
    meta = meta.get("attributes", meta)
    axes = (meta.get("ome", meta))["multiscales"][0]["axes"]
    assert [(a["name"], a.get("unit")) for a in axes if a["type"] == "space"] == [
        ("y", "micrometer"),
        ("x", "micrometer"),
    ]


def _aware_model(path):
    import torch

    from napari_sisr.core.archs import build_generator

    torch.manual_seed(0)
    net = build_generator("srresnet_da", "fast", 2, 1, n_blocks=1, nf=8, cond_features=8)
    with torch.no_grad():  # a modulation that acts (a fresh one starts at zero)
        net.modulation.weight.normal_(0, 0.3)
    meta = {"degradation": {"mode": "blind", "sigma": [0.0, 3.0], "noise_std": [0.0, 0.1]}}
    return save_model(path, net, {**meta, "steering": {"sigma": 1.2}})


def test_degradation_group_steers_runs_and_the_live_preview(
    qtbot, make_napari_viewer, nuclei, model_path, tmp_path
):
    from napari_sisr import DegradationParams

    viewer = make_napari_viewer(show=True)
    _, w = viewer.window.add_plugin_dock_widget("napari-sisr", "Super-resolve")
    w.tile.value = TILE
    w.set_model(model_path)
    assert not w.degradation.active  # a plain model takes no degradation
    aware = _aware_model(tmp_path / "models" / "aware_x2")
    w.set_model(aware)
    assert w.degradation.active and w.degradation.sigma.value == 1.2  # the card's default
    img = nuclei[:96, :96]
    viewer.add_image(img, name="n")
    # typed in: the result is what predict gives with those values, and the group says so
    w.degradation.mode.value = "typed in"
    w.degradation.sigma.value, w.degradation.noise.value = 2.5, 3.0
    _run(qtbot, w)
    steer = {"sigma": 2.5, "noise_std": 0.03}
    want = _reference(img, aware, degradation=steer)
    np.testing.assert_allclose(_result(viewer, "n").data, want, rtol=0, atol=1e-3)
    assert "2.50 HR px (typed in)" in w.degradation.shown.value
    # from a fit: its file's values
    fit = DegradationParams(scale=2, sigma=0.8, noise_var=4.0).save(tmp_path / "fit.json")
    w.degradation.mode.value = "from a fit (JSON)"
    w.degradation.fit_path.value = fit
    assert w.settings().config.degradation.fit.sigma == 0.8
    # the live preview follows a change of sigma
    w.degradation.mode.value = "typed in"
    w.live.enabled_box.value = True
    name = "n x2 SR (aware_x2) (live)"
    qtbot.waitUntil(lambda: name in viewer.layers and not w.live.runner.busy, timeout=60_000)
    before = np.array(viewer.layers[name].data)
    w.degradation.sigma.value = 0.3
    qtbot.waitUntil(lambda: "0.30 HR px" in w.degradation.shown.value, timeout=60_000)
    qtbot.waitUntil(lambda: not w.live.runner.busy, timeout=60_000)
    after = np.array(viewer.layers[name].data)
    assert after.shape == before.shape and np.abs(after - before).max() > 0
    # automatic: the noise estimated from the image, said in the group
    w.live.enabled_box.value = False
    w.degradation.mode.value = "automatic"
    _run(qtbot, w)
    assert "estimated from the image" in w.degradation.shown.value
    # a fit mode without a file: a notification, no job
    n = _n_records()
    w.degradation.mode.value = "from a fit (JSON)"
    w.degradation.fit_path.value = ""
    assert w.run() is None
    assert any("fit JSON" in m for m in _errors_since(n))


def test_degradation_tuned_on_a_reference_layer_steers_the_run(qtbot, widget, actin, tmp_path):
    from napari_sisr import DegradationParams, simulate_lr

    viewer, w = widget
    aware = _aware_model(tmp_path / "models" / "aware_tune_x2")
    w.set_model(aware)
    hr = actin[:128, :128].astype(np.float32)
    lr = simulate_lr(hr, DegradationParams(scale=2, sigma=1.5), rng=np.random.default_rng(0))
    viewer.add_image(hr, name="hr")
    src = viewer.add_image(lr.astype(np.float32), name="lr")
    viewer.layers.selection = {src}
    assert w.degradation.tune_row.native.isHidden()  # shown for its mode only
    w.degradation.mode.value = "tuned on a pair"
    assert not w.degradation.tune_row.native.isHidden()
    # before any tuning: a run is refused with a notification saying what to do
    n = _n_records()
    assert w.run() is None
    assert w.degradation.save_tuned(tmp_path / "early.json") is None
    assert any("tune on a pair first" in m for m in _errors_since(n))
    assert not (tmp_path / "early.json").exists()
    # without a reference layer: refused, no job
    n = _n_records()
    assert w.degradation.tune() is None
    assert any("reference layer" in m for m in _errors_since(n))
    w.scoring.reference.reset_choices()
    w.scoring.reference.value = viewer.layers["hr"]
    assert w.degradation.tune() is not None
    qtbot.waitUntil(lambda: not w.degradation.tune_runner.busy, timeout=120_000)
    tuned = w.degradation.tuned
    assert tuned is not None and tuned.source == "tuned"
    assert "dB on the pair" in w.degradation.shown.value
    # the run is told the tuned values, and is what predict gives with them
    assert w.settings().config.degradation.fit is tuned
    _run(qtbot, w)
    want = _reference(lr.astype(np.float32), aware, degradation=tuned)
    np.testing.assert_allclose(_result(viewer, "lr").data, want, rtol=0, atol=1e-3)
    assert "tuned on a pair" in w.degradation.shown.value
    # saved for the command line, it reads back as what the run was told
    saved = w.degradation.save_tuned(tmp_path / "tuned.json")
    assert DegradationParams.load(saved) == tuned
    # another model: what was tuned for this one is dropped, and a run asks to tune again
    w.set_model(_aware_model(tmp_path / "models" / "aware_other_x2"))
    assert w.degradation.tuned is None


def test_each_result_gets_its_evidence_map_and_table(qtbot, widget, actin):
    """The z-score map lies on the source's grid (so napari draws it over the result), is not
    offered as a source, and the table gives the resolutions and the disagreeing fraction."""
    from napari_sisr import DegradationParams, simulate_lr

    viewer, w = widget
    lr = simulate_lr(actin[:96, :128].astype(np.float32), DegradationParams(scale=2, sigma=1.0),
                     rng=np.random.default_rng(0))  # fmt: skip
    src = viewer.add_image(lr, name="cap", scale=(0.5, 0.5))
    viewer.layers.selection = {src}
    assert w.evidence.on  # on by default
    _run(qtbot, w)
    ev = viewer.layers["cap x2 SR (tiny_x2) evidence"]
    assert ev.data.shape == lr.shape and tuple(ev.scale) == (0.5, 0.5)
    assert ev not in [lyr for _, lyr in w._layer_choices()]
    table = w.evidence.table.value
    assert "resolution: capture" in table and "pixels disagreeing" in table
    w.evidence.enabled_box.value = False
    viewer.layers.remove(ev)
    viewer.layers.selection = {src}
    _run(qtbot, w)
    assert "cap x2 SR (tiny_x2) evidence" not in viewer.layers


def test_a_blank_layer_gets_its_result_and_evidence_that_says_why_it_shows_nothing(qtbot, widget):
    """A flat layer (a blank field) has no noise to estimate: the run still adds the result
    and the evidence, whose notes say the capture is flat, with no error notification."""
    viewer, w = widget
    src = viewer.add_image(np.full((64, 64), 7.0, np.float32), name="blank")
    viewer.layers.selection = {src}
    n = _n_records()
    _run(qtbot, w)
    assert (
        _result(viewer, "blank") is not None and "blank x2 SR (tiny_x2) evidence" in viewer.layers
    )
    assert "capture is flat" in w.evidence.table.value
    assert not [m for m in _errors_since(n) if "failed" in m.lower()], _errors_since(n)


def test_adapt_to_this_image_adds_the_adapted_model(qtbot, widget, actin, tmp_path, monkeypatch):
    """With the PSF given, *Adapt to this image* adapts the model to the chosen layer in the
    background, adds the result to the model list and chooses it; without a PSF it asks."""
    from napari_sisr import DegradationParams, simulate_lr

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    viewer, w = widget
    w.set_model(_aware_model(tmp_path / "models" / "aware_adapt_x2"))
    hr = actin[:256, :256] / actin[:256, :256].max() * 30.0
    clean = simulate_lr(hr, DegradationParams(scale=2, sigma=1.2), noise=False)
    counts = np.random.default_rng(0).poisson(np.clip(clean, 0, None)).astype(np.float32)
    viewer.layers.selection = {viewer.add_image(counts, name="cells")}
    d = w.degradation
    assert d.adapt.native.isHidden()  # automatic: no PSF to adapt with
    d.mode.value = "typed in"
    assert not d.adapt.native.isHidden()
    d.sigma.value = 1.2
    d.adapt.settings = {"iters": 3, "patch": 16, "batch": 2, "val_every": 1}
    assert d.adapt.start() is not None
    qtbot.waitUntil(lambda: not d.adapt.runner.busy, timeout=120_000)
    chosen = str(w.model.value)
    assert chosen.endswith("model.json") and "cells-" in chosen
    assert (tmp_path / "data") in Path(chosen).parents
    assert "photon counts" in d.adapt.status.value
    assert w.degradation.active  # the adapted model is degradation-aware too


def test_make_isotropic_adds_a_stack_sampled_like_xy(qtbot, widget, tmp_path):
    """A z-stack layer in um: *Make isotropic* adds its restoration with the z scale divided
    by the factor, overlaying the source; a 2D layer gets a notification."""
    from scipy import ndimage

    viewer, w = widget
    rng = np.random.default_rng(0)
    vol = np.zeros((64, 64, 64))
    idx = rng.integers(0, vol.shape, size=(200, 3))
    vol[tuple(idx.T)] = 100.0
    stack = ndimage.gaussian_filter1d(ndimage.gaussian_filter(vol, 1.2), 2.0, axis=0)[2::4]
    layer = viewer.add_image(stack.astype(np.float32), name="stack", scale=(0.4, 0.1, 0.1),
                             units=("um", "um", "um"))  # fmt: skip
    viewer.layers.selection = {layer}
    w.isotropic.train = {"iters": 3, "val_every": 1}
    assert w.isotropic.start() is not None
    qtbot.waitUntil(lambda: not w.isotropic.runner.busy, timeout=120_000)
    out = viewer.layers["stack isotropic (z x4)"]
    assert out.data.shape == (64, 64, 64)
    assert list(out.scale) == pytest.approx([0.1, 0.1, 0.1])
    assert out.translate[0] == pytest.approx(-0.2)  # fine plane 2 sits on source plane 0
    assert "axial blur" in w.isotropic.status.value
    flat = viewer.add_image(np.zeros((32, 32), np.float32), name="flat")
    viewer.layers.selection = {flat}
    n = _n_records()
    assert w.isotropic.start() is None
    assert any("not a z-stack" in m for m in _errors_since(n))


def test_the_model_row_says_what_each_model_is_for():
    """Beside the Model combo: the trained range and when to use the model, in plain words."""
    from napari_sisr.core.modelio import read_model_meta
    from napari_sisr.widgets._models import model_card_line

    blind = model_card_line(read_model_meta("default-4x"))
    assert "x4" in blind and "blind" in blind and "1-3 HR px" in blind and "not known" in blind
    aware = model_card_line(read_model_meta("aware-4x"))
    assert "steered" in aware and "0-8 HR px" in aware and "PSF is known" in aware
    fitted = {"scale": 2, "in_channels": 1, "arch": "srresnet", "degradation": {"sigma": 2.4}}
    assert "one degradation (PSF sigma 2.4 HR px)" in model_card_line(fitted)


def test_a_cancelled_isotropic_run_says_so(qtbot, widget):
    """After Cancel, the section's status says the run ended without a result (it kept the
    last progress message, as if still at work), and nothing is added."""
    viewer, w = widget
    stack = np.random.default_rng(0).random((16, 48, 48)).astype(np.float32)
    layer = viewer.add_image(stack, name="st", scale=(0.4, 0.1, 0.1), units=("um",) * 3)
    viewer.layers.selection = {layer}
    w.isotropic.train = {"iters": 5000, "val_every": 1000}
    assert w.isotropic.start() is not None
    qtbot.waitUntil(lambda: "/" in w.isotropic.status.value, timeout=60_000)  # under way
    w.isotropic.runner.cancel()
    qtbot.waitUntil(lambda: not w.isotropic.runner.busy, timeout=120_000)
    assert w.isotropic.status.value == "cancelled: no result"
    assert [lyr.name for lyr in viewer.layers] == ["st"]


def test_the_first_run_says_what_it_prepares(widget, nuclei, model_path):
    """The first click loads the model and says how long that took and what comes next (the
    intensity statistics, an engine to compile); a second click does not repeat it."""
    from napari_sisr.core.progress import run_to_end
    from napari_sisr.widgets._models import ModelCache
    from napari_sisr.widgets.superres.job import prepare_tasks, sr_job

    viewer, w = widget
    w.set_model(model_path)
    layer = viewer.add_image(nuclei[:48, :48], name="n")
    settings = w.settings()
    cache, said = ModelCache(), []
    for _ in range(2):
        tasks = prepare_tasks([layer], settings)
        run_to_end(sr_job(tasks, settings, cache), lambda u: said.append(u.message))
    loaded = [m for m in said if "model loaded in" in m]
    assert len(loaded) == 1 and "reading the intensity statistics" in loaded[0], said
    assert said.index(loaded[0]) < min(i for i, m in enumerate(said) if "super-resolving" in m)


def test_a_fits_outputs_do_not_take_the_layer_choice_and_the_reference_is_suggested(widget):
    """After a fit adds its residual (and napari selects it), the capture chosen before stays
    chosen; the reference offered for scoring is the finer capture covering the same field,
    never an unrelated image or a computed layer."""
    viewer, w = widget
    rng = np.random.default_rng(0)
    hr = viewer.add_image(rng.random((128, 128)).astype(np.float32), name="hr")
    lr = viewer.add_image(
        rng.random((32, 32)).astype(np.float32), name="lr", scale=(4, 4), translate=(1.5, 1.5)
    )
    far = rng.random((256, 256)).astype(np.float32)
    viewer.add_image(far, name="elsewhere", translate=(5000, 5000))
    viewer.layers.selection.active = lr
    assert w.chosen_layers() == [lr]
    assert w.scoring.reference.value is hr  # the finer capture of the same field
    residual = viewer.add_image(rng.random((32, 32)).astype(np.float32), name="residual")
    assert list(viewer.layers.selection) == [residual]
    assert w.chosen_layers() == [lr]  # a fit's output does not take the choice

    w.scoring.reference.value = None
    viewer.layers.remove(hr)  # nothing finer covers the field: no suggestion
    assert w.scoring.reference.value is None


def test_a_file_that_is_no_model_is_a_notification(widget, tmp_path):
    """Browse... with a JSON file that is no model: a notification naming it, and the
    chosen model stays."""
    viewer, w = widget
    before = w.model.value
    n = _n_records()
    (tmp_path / "not_a_model.json").write_text("{}")
    w.set_model(tmp_path / "not_a_model.json")
    errors = _errors_since(n)
    assert len(errors) == 1 and errors[0].startswith("cannot use model"), errors
    assert "not_a_model" in errors[0] and w.model.value == before
