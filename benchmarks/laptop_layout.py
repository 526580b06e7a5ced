"""The common path of the three widgets on a laptop screen: which of its controls a 1366 x 768
window shows without scrolling, with Fit degradation, Super-resolve and Train docked as tabs
(what ``make demo GUI=1`` opens) on the bundled BPAE pair.

    xvfb-run -a python benchmarks/laptop_layout.py
    PYTHONPATH=OLD/src xvfb-run -a python benchmarks/laptop_layout.py   # an older tree

"In view" is vertical: a control counts when its whole height lies inside the window and
inside every scroll area holding it, on its tab.
"""

from qtpy.QtCore import QRect
from qtpy.QtWidgets import QAbstractScrollArea, QApplication

from napari_sisr import demo
from napari_sisr.sample_data import bpae_actin_hr, bpae_actin_lr


def shown(widget, window) -> bool:
    """Whether ``widget`` shows its whole height, on its tab, without scrolling."""

    def on_screen(w):
        return QRect(w.mapToGlobal(w.rect().topLeft()), w.size())

    if not widget.isVisible() or widget.visibleRegion().isEmpty():
        return False
    rect = on_screen(widget)

    def within(outer):  # vertically: what scrolling would change
        return outer.top() <= rect.top() and rect.bottom() <= outer.bottom()

    if not within(on_screen(window)):
        return False
    p = widget.parentWidget()
    while p is not None and p is not window:
        if isinstance(p, QAbstractScrollArea) and not within(on_screen(p.viewport())):
            return False
        p = p.parentWidget()
    return True


def _first(root, paths):
    """The first of the dotted attribute ``paths`` that ``root`` has (trees differ), or None."""
    for path in paths:
        obj = root
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if obj is not None:
            return obj
    return None


def main() -> int:
    """Print each control of the common path, in view or not, and the count."""
    viewer = demo.open_viewer(bpae_actin_hr(), bpae_actin_lr(), 4)
    win = viewer.window._qt_window
    win.showNormal()
    win.resize(1366, 768)
    for _ in range(40):
        QApplication.processEvents()
    docks = {n.split(" (")[0]: d for n, d in viewer.window._dock_widgets.items()}
    fit, sr, tr = (docks[k].inner_widget() for k in ("Fit degradation", "Super-resolve", "Train"))
    path = {
        "Fit degradation": [
            ("HR image", fit.hr_layer),
            ("LR image", fit.lr_layer),
            ("scale", fit.scale),
            ("Fit", fit.controls.run_button),
            ("parameter table", fit.table),
        ],
        "Super-resolve": [
            ("Layers", sr.layers),
            ("Model", sr.model),
            ("Super-resolve", sr.controls.run_button),
            ("Output", sr.output),
            ("Score result", sr.scoring.button),
        ],
        "Train": [
            ("HR layers", _first(tr.form, ("data.hr_layers", "hr_list"))),
            ("Load JSON", tr.form.deg.load_json_btn),
            ("PSF sigma", _first(tr.form, ("deg.sigma",))),
            ("iterations", _first(tr.form, ("training.iterations", "iterations"))),
            ("Start", tr.start_btn),
        ],
    }
    total = hidden = 0
    for name, dock in docks.items():
        dock.raise_()
        for _ in range(40):
            QApplication.processEvents()
        for label, w in path[name]:
            if w is None:
                continue
            native = getattr(w, "native", w)
            ok = shown(native, win)
            total += 1
            hidden += not ok
            print(f"{name:16} {label:16} {'in view' if ok else 'needs scrolling'}")
    print(f"{total - hidden} of {total} in view, {hidden} need scrolling")
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
