"""The demo: simulated capture fitted, real pair fitted, figure saved; the GUI entry."""

from __future__ import annotations

import json

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
    finally:
        viewer.close()


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
