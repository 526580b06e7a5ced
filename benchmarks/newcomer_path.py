"""A newcomer's path through the three jobs on the bundled sample, counted in clicks and
scrolls, in a 1366 x 768 window with the three widgets docked as tabs (``make demo GUI=1``).

    xvfb-run -a python benchmarks/newcomer_path.py
    PYTHONPATH=OLD/src xvfb-run -a python benchmarks/newcomer_path.py   # an older tree

The path: fit the degradation of the bundled pair (Fit tab: HR, LR, scale, Fit, read the
table), hand it to training (*Train on this pair*, look at the iterations, Start: not run
here), super-resolve the LR capture and score the result against the HR image (Super-resolve
tab: layer, Super-resolve, reference, Score, read the table). The fit, the super-resolution
and the score really run. A control the defaults already set right costs nothing; one to
set costs its clicks (a combo box two); one out of view costs a scroll first, as does a
result table that fills out of view. A tab to raise is a click.
"""

import time

from laptop_layout import shown
from qtpy.QtWidgets import QApplication

from napari_sisr import demo
from napari_sisr.sample_data import bpae_actin_hr, bpae_actin_lr


def settle(n: int = 20) -> None:
    for _ in range(n):
        QApplication.processEvents()


def wait(busy, limit_s: float = 300.0) -> None:
    """Process events until ``busy()`` is false (a job ran to its end)."""
    end = time.monotonic() + limit_s
    settle()
    while busy() and time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.02)
    settle(40)


class Tally:
    def __init__(self, win) -> None:
        self.win, self.clicks, self.scrolls, self.lines = win, 0, 0, []

    def step(self, label: str, widget, clicks: int) -> None:
        """An action on ``widget`` (``clicks`` 0: already right, only looked at)."""
        native = getattr(widget, "native", widget)
        scroll = not shown(native, self.win)
        self.scrolls += scroll
        self.clicks += clicks
        say = f"{clicks} click{'s' if clicks != 1 else ''}" if clicks else "looked at"
        self.lines.append(f"  {label:28} {say}{', after a scroll' if scroll else ''}")

    def tab(self, dock) -> None:
        raised = not dock.visibleRegion().isEmpty()
        self.clicks += not raised
        self.lines.append(f"{dock.windowTitle().split(' (')[0]}: {'' if raised else '1 click'}")
        dock.raise_()
        settle(40)


def main() -> int:
    viewer = demo.open_viewer(bpae_actin_hr(), bpae_actin_lr(), 4)
    win = viewer.window._qt_window
    win.showNormal()
    win.resize(1366, 768)
    settle(60)
    hr_layer, lr_layer = viewer.layers[0], viewer.layers[1]
    docks = {n.split(" (")[0]: d for n, d in viewer.window._dock_widgets.items()}
    fit, sr, tr = (docks[k].inner_widget() for k in ("Fit degradation", "Super-resolve", "Train"))
    t = Tally(win)

    t.tab(docks["Fit degradation"])
    t.step("HR image", fit.hr_layer, 0 if fit.hr_layer.value is hr_layer else 2)
    t.step("LR image", fit.lr_layer, 0 if fit.lr_layer.value is lr_layer else 2)
    t.step("scale", fit.scale, 0 if fit.scale.value == 4 else 1)
    t.step("Fit", fit.controls.run_button, 1)
    fit.fit()
    wait(lambda: fit.controls.runner.busy)
    t.step("parameter table (read)", fit.table, 0)
    t.step("Train on this pair", fit.train_button, 1)
    fit.train_on_pair()
    settle(60)
    t.tab(docks["Train"])
    t.step("iterations (read)", tr.form.training.iterations, 0)
    t.step("Start", tr.start_btn, 1)

    t.tab(docks["Super-resolve"])
    # the LR capture: chosen in the widget's list, or by clicking it in napari's layer list
    t.step("Layers", sr.layers, 0 if list(sr.layers.value) == [lr_layer] else 1)
    viewer.layers.selection.active = lr_layer
    settle()
    t.step("Super-resolve", sr.controls.run_button, 1)
    sr.run()
    wait(lambda: sr.controls.runner.busy)
    chosen = sr.scoring.reference.value is hr_layer
    t.step("Score against", sr.scoring.reference, 0 if chosen else 2)
    sr.scoring.reference.value = hr_layer
    settle()
    t.step("Score result", sr.scoring.button, 1)
    sr.scoring.score()
    wait(lambda: sr.scoring.runner.busy)
    t.step("score table (read)", sr.scoring.table, 0)
    print("\n".join(t.lines))
    print(f"newcomer's path: {t.clicks} clicks, {t.scrolls} scrolls")
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
