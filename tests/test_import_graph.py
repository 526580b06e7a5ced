"""The package's imports point one way: no module imports one that (indirectly) imports it back.

Every ``import`` / ``from ... import`` inside ``napari_sisr`` counts, also those inside
functions (a lazy import is still a dependency); only imports for type annotations (under
``if TYPE_CHECKING:``) do not. ``from pkg import name`` depends on the
submodule ``pkg.name`` when there is one, else on ``pkg`` itself (its ``__init__``), so a
submodule that reads something from its own package's ``__init__`` while that ``__init__``
imports it is a cycle too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "napari_sisr"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                todo.extend(child.orelse)
            else:
                todo.append(child)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in its body)."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _runtime_nodes(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node.level, node.module)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            for t in targets:
                while t and t not in modules and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t in modules and t != name:
                    graph[name].add(t)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_cycle_finder_sees_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]


def test_core_never_imports_front_ends():
    graph = import_graph()
    bad = {
        m: sorted(t for t in deps if t.startswith((f"{PACKAGE}.widgets", f"{PACKAGE}.cli")))
        for m, deps in graph.items()
        if m.startswith(f"{PACKAGE}.core")
    }
    assert not {m: d for m, d in bad.items() if d}


def test_widget_sections_never_import_their_widget():
    """A widget's sections (sub-panels) talk through its state object, not through the
    widget: none imports the widget module, not even for annotations."""
    for folder in ("superres", "fit", "train"):
        for path in sorted((SRC / PACKAGE / "widgets" / folder).glob("*.py")):
            if path.name in ("widget.py", "__init__.py"):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
            assert not [n.module for n in imports if n.level == 1 and n.module == "widget"], path


def test_widgets_have_one_style_and_a_state_object_each():
    """The three dock widgets are magicgui containers, each with a state object whose
    signals its sections talk through; no widget class is built on a Qt widget class, bar the
    QPainter line plot of the training curves (and event filters, which are no widgets)."""
    import importlib

    for folder, name in (
        ("fit", "FitState"),
        ("superres", "SuperResolveState"),
        ("train", "TrainState"),
    ):
        state = getattr(importlib.import_module(f"{PACKAGE}.widgets.{folder}.state"), name)
        signals = [v for v in vars(state).values() if type(v).__name__ == "Signal"]
        assert len(signals) >= 3, (name, signals)
    qt_classes = {}
    for path in sorted((SRC / PACKAGE / "widgets").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [b.id for b in node.bases if isinstance(b, ast.Name)]
                qt = [b for b in bases if b.startswith("Q") and b != "QObject"]
                if qt:
                    qt_classes[f"{path.relative_to(SRC / PACKAGE)}:{node.name}"] = qt
    assert qt_classes == {"widgets/_plot.py:LinePlot": ["QWidget"]}
    manifest = (SRC.parent / "napari.yaml").read_text(encoding="utf-8")
    pytest.importorskip("magicgui")
    from magicgui.widgets import Container

    refs = re.findall(r"python_name: (napari_sisr\.widgets\.[\w.]+):(\w+Widget)", manifest)
    assert len(refs) == 3, refs
    for module, name in refs:
        assert issubclass(getattr(importlib.import_module(module), name), Container), name


#: Longest function body (lines, docstring excluded) the package allows.
FUNCTION_LIMIT = 60
#: Functions allowed past the limit, with why: declarative tables a reader scans, not logic.
LONG_BY_NATURE = {
    "napari_sisr/cli/train.py:add": "the train command's option table",
    "napari_sisr/cli/predict.py:add": "the predict command's option table",
    "napari_sisr/core/bmz/export.py:_rdf": "the bioimage.io description, one nested literal",
}


def function_lengths() -> dict[str, int]:
    """``module path:function name`` -> lines of its body without the docstring."""
    out = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            n = node.end_lineno - node.lineno + 1
            if ast.get_docstring(node) is not None:
                first = node.body[0]
                n -= first.end_lineno - first.lineno + 1
            key = f"{path.relative_to(SRC).as_posix()}:{node.name}"
            out[key] = max(n, out.get(key, 0))
    return out


def test_functions_stay_short():
    """Functions, not modules, are what a reader holds in mind: none past the limit but the
    declarative tables named above."""
    lengths = function_lengths()
    long = {k: n for k, n in lengths.items() if n > FUNCTION_LIMIT and k not in LONG_BY_NATURE}
    assert not long, f"functions over {FUNCTION_LIMIT} lines: {long}"
    assert all(lengths.get(k, 0) > FUNCTION_LIMIT for k in LONG_BY_NATURE), "stale exception"
