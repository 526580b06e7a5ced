"""The demo: simulated capture fitted, real pair fitted, figure saved; the GUI entry."""

from __future__ import annotations

import json
from contextlib import contextmanager

import numpy as np
import pytest

from napari_sisr import demo


@pytest.mark.slow
def test_demo_runs_and_saves(tmp_path, capsys, data_dir):
    assert demo.main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "SIMULATION" in out and "true" in out and "fitted" in out
    assert "STORM" in out
    assert (tmp_path / "demo_fit.png").stat().st_size > 10_000
    fit = json.loads((tmp_path / "fit_simulated.json").read_text())
    assert abs(fit["sigma"] / demo.TRUE["sigma"] - 1) < 0.05
    pair = json.loads((tmp_path / "fit_tirf_storm.json").read_text())
    assert pair["scale"] == 8 and 7.0 < pair["notes"]["hr_resampled"]["ratio"] < 7.6
    assert (tmp_path / "demo_sr.png").stat().st_size > 10_000
    assert (tmp_path / "demo_sr.ome.zarr" / "zarr.json").exists() or (
        tmp_path / "demo_sr.ome.zarr" / ".zattrs"
    ).exists()
    assert "SR       PSNR" in out and "bicubic  PSNR" in out


@pytest.mark.gui
def test_demo_viewer_docks_the_three_widgets(qtbot):
    pytest.importorskip("napari")
    hr = np.random.default_rng(0).random((64, 64))
    lr = hr.reshape(16, 4, 16, 4).mean(axis=(1, 3))
    viewer = demo.open_viewer(hr, lr, 4)
    try:
        assert [layer.name for layer in viewer.layers] == [
            "HR (real image)",
            "LR (simulated capture)",
        ]
        for widget in ("Fit degradation", "Super-resolve", "Train"):
            assert any(widget in name for name in viewer.window._dock_widgets)
        # docked as tabs, they fit a 1366 x 768 laptop screen (menus and title take ~100 px)
        window = viewer.window._qt_window
        window.show()
        qtbot.waitUntil(window.isVisible, timeout=10_000)
        assert window.minimumSizeHint().height() <= 660, window.minimumSizeHint()
        docks = list(viewer.window._dock_widgets.values())
        assert max(d.minimumSizeHint().height() for d in docks) <= 600
        # opens on Fit, its first step (a tab behind others is "visible" to Qt, but unseen)
        qtbot.waitUntil(lambda: not docks[0].widget().visibleRegion().isEmpty())
        assert docks[2].widget().visibleRegion().isEmpty()
    finally:
        viewer.close()


#: A laptop screen: the napari window at its size, the three widgets docked as tabs.
LAPTOP = (1366, 768)


def shown_whole(widget, window) -> bool:
    """Whether ``widget`` (Qt) is shown, inside ``window`` and inside every scroll area that
    holds it: visible as it is, with no scrolling (compared on the screen)."""
    from qtpy.QtCore import QRect
    from qtpy.QtWidgets import QAbstractScrollArea

    def on_screen(w) -> QRect:
        return QRect(w.mapToGlobal(w.rect().topLeft()), w.size())

    if not widget.isVisible() or widget.height() == 0 or widget.visibleRegion().isEmpty():
        return False  # (a tab behind others is "visible" to Qt)
    rect = on_screen(widget)
    if not on_screen(window).contains(rect):
        return False
    parent = widget.parentWidget()
    while parent is not None and parent is not window:
        if isinstance(parent, QAbstractScrollArea) and not on_screen(parent.viewport()).contains(
            rect
        ):
            return False
        parent = parent.parentWidget()
    return True


def _where(widget, window):
    native = getattr(widget, "native", widget)
    if isinstance(native, str):
        return native
    pos, origin = (
        native.mapToGlobal(native.rect().topLeft()),
        window.mapToGlobal(window.rect().topLeft()),
    )
    return (
        native.isVisible(),
        pos.x() - origin.x(),
        pos.y() - origin.y(),
        native.width(),
        native.height(),
    )


@contextmanager
def _laptop_demo(qtbot):
    """The demo's viewer on a small pair, its window at laptop size: (viewer, window, docks by
    widget name); closed afterwards."""
    hr = np.random.default_rng(0).random((64, 64))
    lr = hr.reshape(16, 4, 16, 4).mean(axis=(1, 3))
    viewer = demo.open_viewer(hr, lr, 4)
    try:
        window = viewer.window._qt_window
        window.showNormal()
        window.resize(*LAPTOP)
        qtbot.waitUntil(lambda: window.isVisible() and window.width() == LAPTOP[0])
        docks = {name.split(" (")[0]: dock for name, dock in viewer.window._dock_widgets.items()}
        yield viewer, window, docks
    finally:
        viewer.close()


@pytest.mark.gui
def test_three_widgets_fit_a_laptop_screen(qtbot, tmp_path):
    """At 1366 x 768 with Fit, Super-resolve and Train docked: on each tab the run button and
    the result tables show whole without scrolling (a screenshot of each tab is taken, the
    way a user sees it)."""
    pytest.importorskip("napari")
    from qtpy.QtWidgets import QApplication

    from napari_sisr.core.evaluation.scoring import PairScore, Scored
    from napari_sisr.widgets.superres.evidence import evidence_html

    with _laptop_demo(qtbot) as (viewer, window, widgets):
        qtbot.wait(500)  # the docks laid out at the new size
        fit, sr, train = (
            widgets[k].inner_widget() for k in ("Fit degradation", "Super-resolve", "Train")
        )
        scored = Scored(
            {m: PairScore(30.1, 0.91) for m in ("SR", "bicubic", "bicubic + RL")},
            (0.1, -0.2),
            8,
            {"rl_iterations": 12, "sigma": 3.5},
        )
        summary = {
            "flagged_fraction": 0.004,
            "rsp": 0.98,
            "middle": {
                "resolution_lr": {"value": 250.0, "unit": "nm"},
                "resolution_sr": {"value": 180.0, "unit": "nm"},
                "notes": ["the model explains the pair"],
            },
        }
        expected = {
            "Fit degradation": [fit.controls.run_button, fit.table],
            "Super-resolve": [
                sr.controls.run_button,
                sr.scoring.button,
                sr.evidence.table,
                sr.scoring.table,
            ],
            "Train": [train.start_btn, train.status, train.form.training.iterations],
        }
        for name, dock in widgets.items():
            dock.raise_()
            if name == "Super-resolve":  # filled as after a run with evidence and a score
                sr.evidence.table.value = evidence_html(summary)
                sr.scoring._show(scored)
            for _ in range(10):
                QApplication.processEvents()
                qtbot.wait(50)
            window.grab().save(str(tmp_path / f"{name}.png"))
            hidden = [w for w in expected[name] if not shown_whole(getattr(w, "native", w), window)]
            if name == "Train" and train.form.native.visibleRegion().boundingRect().height() < 400:
                hidden.append("settings")  # data and degradation need room above the buttons
            assert not hidden, (name, [(w, _where(w, window)) for w in hidden])


def test_fit_panels_name_a_simulated_capture_as_such():
    """demo_fit.png's first row is a simulated capture: it must not be labelled "real LR"."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_sisr.core.degradation.params import DegradationParams

    lr = np.random.default_rng(0).random((16, 16))
    fig, axes = plt.subplots(1, 4)
    try:
        params = DegradationParams(residual_std=0.1, residual_lag1=0.1)
        demo.fit_panels(axes, lr, lr * 0.9, params, "t", "LR capture (simulated)")
        assert axes[0].get_title().endswith("LR capture (simulated)")
        assert "real" not in axes[0].get_title()
    finally:
        plt.close(fig)


@pytest.mark.gui
def test_train_on_this_pair_shows_the_train_tab(qtbot):
    """The Fit widget's *Train on this pair* fills the Train widget and brings its tab to the
    front (it stayed behind the Fit tab: one more click for the user to find it)."""
    pytest.importorskip("napari")
    with _laptop_demo(qtbot) as (_, _, docks):
        qtbot.waitUntil(lambda: not docks["Fit degradation"].visibleRegion().isEmpty())
        assert docks["Train"].visibleRegion().isEmpty()  # behind the Fit tab
        train = docks["Fit degradation"].inner_widget().train_on_pair()
        assert train is not None and train.form.values()["hr_layers"] == ["HR (real image)"]
        qtbot.waitUntil(lambda: not docks["Train"].visibleRegion().isEmpty(), timeout=5000)
