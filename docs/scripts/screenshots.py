"""Regenerate the screenshots of the documentation in a real napari window.

Run under a display (``make screenshots`` uses Xvfb)::

    python docs/scripts/screenshots.py            # every screenshot
    python docs/scripts/screenshots.py widget_fit # only some

Each screenshot is one function registered in ``SCREENSHOTS``: it opens a viewer, loads real
images (the package's sample data, or the shared data folder through :func:`data`), docks a
widget, runs it, and returns the viewer; :func:`save` writes the whole window as PNG.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "docs" / "images"
DATA = Path(os.environ.get("NAPARI_SISR_DATA", REPO.parent / "shared" / "data"))
WINDOW = (1480, 900)
MAX_BYTES = 500_000


def data(rel: str) -> Path:
    path = DATA / rel
    if not path.exists():
        sys.exit(f"image not found: {path} (set NAPARI_SISR_DATA to the data folder)")
    return path


def wait_until(predicate: Callable[[], bool], timeout: float = 120.0) -> None:
    """Process Qt events until ``predicate()`` is true."""
    from qtpy.QtWidgets import QApplication

    t0 = time.perf_counter()
    while not predicate():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("the widget did not finish in time")
        QApplication.processEvents()
        time.sleep(0.02)
    for _ in range(20):  # let the canvas redraw
        QApplication.processEvents()
        time.sleep(0.02)


def new_viewer():
    import napari
    from napari.settings import get_settings

    # No toast notifications over the canvas (e.g. about the Qt backend); the settings file
    # is a temporary one (see main), so the user's napari preferences stay untouched.
    get_settings().application.gui_notification_level = "error"
    viewer = napari.Viewer(show=True, title="napari-sisr")
    viewer.window.resize(*WINDOW)
    return viewer


def save(viewer, name: str) -> Path:
    """Save the whole window (canvas, layer list and docked widgets) as ``IMAGES/name.png``."""
    import imageio.v3 as iio

    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / f"{name}.png"
    shot = getattr(viewer, "_montage", None)
    if shot is None:
        shot = viewer.screenshot(canvas_only=False, flash=False)
    iio.imwrite(path, shot[..., :3], compress_level=9)
    size = path.stat().st_size
    if size > MAX_BYTES:
        print(f"warning: {path.name} is {size / 1e3:.0f} kB (limit {MAX_BYTES / 1e3:.0f} kB)")
    print(f"{path.relative_to(REPO)}: {shot.shape[1]}x{shot.shape[0]}, {size / 1e3:.0f} kB")
    return path


# ---------------------------------------------------------------------------- screenshots
def _fitted_pair():
    """The bundled BPAE sample (real HR crop + simulated 4x LR), fitted in the widget."""
    viewer = new_viewer()
    viewer.open_sample("napari-sisr", "bpae_actin_pair")
    _, widget = viewer.window.add_plugin_dock_widget("napari-sisr", "Fit degradation")
    widget.fit()
    wait_until(lambda: not widget.controls.runner.busy)
    if widget.controls.runner.last_state != "done":
        raise RuntimeError(f"the fit did not finish: {widget.controls.status.value}")
    return viewer, widget


def widget_fit():
    """Fit degradation as a fit leaves it: the LR capture over the HR image, the residual
    below it, the simulated LR hidden over the LR."""
    viewer, _ = _fitted_pair()
    wait_until(lambda: True)
    viewer.reset_view()
    return viewer


def widget_fit_preview():
    """Live preview: the simulated LR (sliders) beside the real LR capture."""
    viewer, widget = _fitted_pair()
    for layer in viewer.layers:
        layer.visible = layer.name == widget.lr_layer.value.name
    widget.preview.enabled_box.value = True
    wait_until(lambda: "simulated LR (preview)" in viewer.layers)
    wait_until(lambda: not widget._preview_runner.busy)
    viewer.reset_view()
    return viewer


def widget_train():
    """Train: mid-run on the bundled BPAE HR crop, with loss and validation curves."""
    from napari_sisr.core.degradation.params import DegradationParams
    from napari_sisr.sample_data import SAMPLE_DEGRADATION, bpae_actin_hr

    viewer = new_viewer()
    viewer.add_image(bpae_actin_hr(), name="BPAE actin (HR)")
    _, widget = viewer.window.add_plugin_dock_widget("napari-sisr", "Train")
    runs = Path(tempfile.mkdtemp(prefix="napari-sisr-shot-"))
    form = widget.form
    form.data.set_hr_layers(["BPAE actin (HR)"])
    # the degradation the sample's LR was simulated with, as the Fit widget would save it
    form.load_degradation(DegradationParams(**SAMPLE_DEGRADATION).save(runs / "bpae_fit.json"))
    t = form.training
    t.patch.value, t.batch.value, t.iterations.value = 64, 4, 300
    t.val_every.value = t.preview_every.value = 20
    t.adversarial.value = False  # content-only warm-up: fast enough on a laptop CPU
    t.run_dir.value = runs / "run"
    widget.start()
    wait_until(lambda: widget.progress.value >= 120 or not widget.running, timeout=900)
    viewer.reset_view()
    wait_until(lambda: True)
    return viewer  # still training: closing the viewer stops the run


def _sr_model(workdir: Path) -> Path:
    """A x4 model for the sample: ``NAPARI_SISR_MODEL``, a bundled one, or a short training run.

    The short run trains on another real image (BPAE mitochondria, shared data folder) degraded
    like the sample, with the content loss only, so the screenshot never shows a model applied
    to its own training image.
    """
    from napari_sisr.core.modelio import DEFAULT_MODEL, bundled_models, read_model_meta

    if os.environ.get("NAPARI_SISR_MODEL"):
        return Path(os.environ["NAPARI_SISR_MODEL"])
    bundled = bundled_models()
    if DEFAULT_MODEL in bundled:  # what a new Super-resolve widget offers first
        return bundled[DEFAULT_MODEL]
    for name, path in bundled.items():
        meta = read_model_meta(name)
        if meta["scale"] == 4 and meta["in_channels"] == 1:
            return path
    import tifffile

    from napari_sisr import DegradationParams
    from napari_sisr.sample_data import SAMPLE_DEGRADATION

    try:
        from napari_sisr import TrainConfig, train
    except ImportError:
        sys.exit("no x4 model: set NAPARI_SISR_MODEL to a model .json")
    hr = tifffile.imread(data("fluorescence_2d/BPAE_mito.tif"))
    config = TrainConfig(
        hr=[hr],
        degradation=DegradationParams(**SAMPLE_DEGRADATION),
        scale=4,
        arch="srresnet",
        preset="fast",
        arch_overrides={"n_blocks": 4, "nf": 32},
        patch=64,
        batch=8,
        iters=250,
        lr=1e-3,
        schedule="constant",
        adversarial=False,
        val_every=250,
        out=workdir / "run",
    )
    print("training a small x4 model for the screenshot (a few minutes on a CPU)")
    return train(config).model


ZOOM = 5.0


def widget_superresolve():
    """Super-resolve: the simulated 4x LR sample, its x4 result and the real HR, side by side."""
    workdir = Path(tempfile.mkdtemp(prefix="sisr-shot-"))
    model = _sr_model(workdir)
    viewer = new_viewer()
    viewer.open_sample("napari-sisr", "bpae_actin_pair")
    hr, lr = viewer.layers[0], viewer.layers[1]
    _, widget = viewer.window.add_plugin_dock_widget("napari-sisr", "Super-resolve")
    widget.set_model(model)
    viewer.layers.selection = {lr}
    widget.tile.value = 64
    _run_side_by_side(viewer, widget, lr, hr)
    camera = viewer.scene.camera
    camera.zoom *= ZOOM
    camera.center = (camera.center[0] + 250, camera.center[1] - 20)
    wait_until(lambda: True)
    return viewer


def widget_superresolve_aware():
    """Super-resolve with a degradation-aware model, steered as tuned on a real pair: the
    confocal capture of the synapse pair, aware-4x's result and the STED image, scored."""
    import numpy as np
    import tifffile

    pair = "pairs/confocal_sted_synapses/bassoon_homer_chA_561_{}.tif"
    lr_px, hr_px = 0.06, 0.015  # um: 60 nm confocal pixels, 15 nm STED pixels, exactly 4x
    viewer = new_viewer()
    lr = viewer.add_image(
        tifffile.imread(data(pair.format("LR_confocal_60nm"))),
        name="Bassoon confocal (LR)", scale=(lr_px, lr_px), colormap="magma",
    )  # fmt: skip
    hr = viewer.add_image(
        tifffile.imread(data(pair.format("HR_STED_15nm"))), name="Bassoon STED (HR)",
        scale=(hr_px, hr_px), translate=(lr_px * (0.5 / 4 - 0.5),) * 2, colormap="magma",
    )  # fmt: skip
    for layer in viewer.layers:
        layer.units = ("um", "um")
        layer.contrast_limits = (0, float(np.percentile(layer.data, 99.8)))  # a few hot pixels
    _, widget = viewer.window.add_plugin_dock_widget("napari-sisr", "Super-resolve")
    widget.model.value = "aware-4x"
    viewer.layers.selection = {lr}
    widget.scoring.reference.value = hr
    widget.degradation.mode.value = "tuned on a pair"
    widget.degradation.tune()
    wait_until(lambda: not widget.degradation.tune_runner.busy, timeout=600)
    if widget.degradation.tuned is None:
        raise RuntimeError(f"tuning did not finish: {widget.degradation.shown.value}")
    _run_side_by_side(viewer, widget, lr, hr, score=True)
    print(widget.degradation.shown.value, widget.scoring.scored.table(), sep="\n")  # the caption's
    viewer.scene.camera.zoom *= 1.6
    wait_until(lambda: True)  # the dock's layout takes in the scores first
    _scroll_to_bottom(widget)  # the scores under the degradation group
    wait_until(lambda: True)
    return viewer


def _run_side_by_side(viewer, widget, lr, hr, score: bool = False) -> None:
    """Super-resolve ``lr`` in the widget (and score it against ``hr``), then show LR | SR |
    HR side by side, the result selected."""
    widget.run()
    wait_until(lambda: not widget.running)
    if widget.controls.runner.last_state != "done":
        raise RuntimeError(f"super-resolving did not finish: {widget.controls.status.value}")
    if score:
        if widget.scoring.score() is None:
            raise RuntimeError("scoring did not start")
        wait_until(lambda: not widget.scoring.runner.busy)
    sr = widget.latest_result(lr)
    for layer in list(viewer.layers):  # the evidence map has its own picture (trust.md)
        if layer.metadata.get("napari_sisr", {}).get("evidence_of"):
            viewer.layers.remove(layer)
    viewer.layers.move(viewer.layers.index(hr), len(viewer.layers))  # LR | SR | HR
    viewer.canvas.grid.enabled = True
    viewer.canvas.grid.shape = (1, 3)
    viewer.layers.selection = {sr}
    wait_until(lambda: True)
    viewer.reset_view()


def _scroll_to_bottom(widget) -> None:
    from qtpy.QtWidgets import QScrollArea

    areas = [widget.native] if isinstance(widget.native, QScrollArea) else []
    for area in areas + widget.native.findChildren(QScrollArea):
        bar = area.verticalScrollBar()
        bar.setValue(bar.maximum())


LAPTOP = (1366, 768)


def widgets_laptop():
    """The three widgets docked as tabs in a 1366 x 768 window (a laptop screen), on the
    bundled BPAE pair: the dock of each tab side by side, as a user sees it unscrolled."""
    import numpy as np
    from qtpy.QtWidgets import QApplication

    from napari_sisr.demo import open_viewer
    from napari_sisr.sample_data import bpae_actin_hr, bpae_actin_lr

    viewer = open_viewer(bpae_actin_hr(), bpae_actin_lr(), 4)
    window = viewer.window._qt_window
    window.showNormal()
    window.resize(*LAPTOP)
    wait_until(lambda: window.width() == LAPTOP[0])
    panels = []
    for dock in viewer.window._dock_widgets.values():
        dock.raise_()
        wait_until(lambda: True)
        QApplication.processEvents()
        shot = window.grab()
        left = dock.mapTo(window, dock.rect().topLeft()).x()
        panels.append(_qimage_rgb(shot.toImage())[:, left:])
    montage = np.concatenate(panels, axis=1)
    viewer._montage = montage  # saved by save() in place of the window
    return viewer


def _qimage_rgb(image):
    import numpy as np

    image = image.convertToFormat(image.Format.Format_RGB888)
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    rows = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


SCREENSHOTS: dict[str, Callable] = {
    "widget_fit": widget_fit,
    "widget_fit_preview": widget_fit_preview,
    "widget_train": widget_train,
    "widget_superresolve": widget_superresolve,
    "widget_superresolve_aware": widget_superresolve_aware,
    "widgets_laptop": widgets_laptop,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"any of {', '.join(SCREENSHOTS)} (default: all)")
    parser.add_argument(
        "--suffix", default="", help="appended to each file name (e.g. _before, to compare)"
    )
    args = parser.parse_args(argv)
    # Default napari settings in a throw-away file: reproducible shots, user config untouched.
    tmp = tempfile.TemporaryDirectory()
    os.environ["NAPARI_CONFIG"] = str(Path(tmp.name) / "settings.yaml")
    unknown = sorted(set(args.names) - set(SCREENSHOTS))
    if unknown:
        parser.error(f"unknown screenshot(s): {', '.join(unknown)}")
    for name in args.names or list(SCREENSHOTS):
        viewer = SCREENSHOTS[name]()
        save(viewer, name + args.suffix)
        viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
