"""The documentation stays true: CLI reference and model tables current, Python examples run."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
#: A fenced python block preceded by ``<!-- test -->`` is executed; others are illustrations.
RUNNABLE = re.compile(r"<!--\s*test\s*-->\s*\n```python\n(.*?)\n```", re.S)


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, DOCS / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current():
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert page == _load_script("cli_reference").render(), (
        "docs/cli.md is out of date: run python docs/scripts/cli_reference.py"
    )


def test_api_reference_is_current():
    page = (DOCS / "api.md").read_text(encoding="utf-8")
    assert page == _load_script("api_reference").render(), (
        "docs/api.md is out of date: run python docs/scripts/api_reference.py"
    )


def test_the_measurements_page_is_generated_from_the_results():
    page = (DOCS / "without-ground-truth.md").read_text(encoding="utf-8")
    assert page == _load_script("no_ground_truth_tables").render(), (
        "docs/without-ground-truth.md is out of date: run "
        "python docs/scripts/no_ground_truth_tables.py"
    )


def test_the_real_captures_summary_is_generated_from_the_results():
    page = (DOCS / "real-captures.md").read_text(encoding="utf-8")
    assert page == _load_script("real_captures_glance").page_with_section(page), (
        "docs/real-captures.md 'At a glance' is out of date: run "
        "python docs/scripts/real_captures_glance.py"
    )


def test_api_reference_covers_every_public_name():
    import napari_sisr

    page = (DOCS / "api.md").read_text(encoding="utf-8")
    for name in napari_sisr._LAZY:
        assert f"### `{name}`" in page, name


def test_model_card_tables_match_the_bundled_models():
    page = (DOCS / "models.md").read_text(encoding="utf-8")
    assert page == _load_script("model_cards").render(page), (
        "docs/models.md is out of date: run python docs/scripts/model_cards.py"
    )


def test_cli_reference_covers_every_subcommand():
    from napari_sisr.cli import build_parser

    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    sub = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices)
    for name, parser in sub.choices.items():
        assert f"## {name}\n" in page
        for action in parser._actions:
            if action.dest == "help":
                continue
            for flag in action.option_strings:
                assert f"`{flag}`" in page


def test_python_page_has_runnable_examples():
    blocks = RUNNABLE.findall((DOCS / "python.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 5


def test_python_examples_run(tmp_path, monkeypatch):
    """Run the marked blocks of docs/python.md in order, in one namespace, in a temp folder."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_python"}
    for i, code in enumerate(RUNNABLE.findall((DOCS / "python.md").read_text("utf-8"))):
        exec(compile(code, f"docs/python.md block {i + 1}", "exec"), namespace)
    assert (tmp_path / "degradation.json").exists()
    assert (tmp_path / "runs" / "demo" / "model.json").exists()


def test_site_builds_strict(tmp_path):
    """Broken links, missing pages and unknown anchors fail the documentation build."""
    import os
    import subprocess
    import sys

    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    # no -q: in quiet mode mkdocs drops the warnings that --strict counts
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]


#: Tables of the Real captures page and its history printed by a benchmark from its results
#: file: (opening marker, benchmark module, results file in benchmarks/results[, --versus files]).
RESULT_PAGES = (
    DOCS / "real-captures.md",
    REPO / "benchmarks" / "reports" / "real-captures-history.md",
)
RESULT_TABLES = [
    (
        "<!-- real-pairs table: bench_real_pairs.py --table-only -->",
        "bench_real_pairs",
        "real_pairs_1500.jsonl",
    ),
    ("<!-- gan-rewind table -->", "bench_real_pairs", "real_pairs_gan_rewind.jsonl"),
    (
        "<!-- ensemble table: bench_ensemble.py --table-only -->",
        "bench_ensemble",
        "ensemble_real_pairs.jsonl",
    ),
    (
        "<!-- real-fraction table: bench_real_pairs.py --table-only --versus -->",
        "bench_real_pairs",
        "real_pairs_real_fraction_075.jsonl",
        ("real_pairs_early_stop.jsonl", "real_pairs_gan_rewind.jsonl"),
    ),
    (
        "<!-- real-fraction ensemble table: bench_ensemble.py --table-only -->",
        "bench_ensemble",
        "ensemble_real_fraction_075.jsonl",
    ),
    (
        "<!-- paired-init table: bench_real_pairs.py --table-only --versus -->",
        "bench_real_pairs",
        "real_pairs_paired_init.jsonl",
        ("real_pairs_1500.jsonl", "real_pairs_real_fraction_075.jsonl"),
    ),
    (
        "<!-- finetune table: bench_real_pairs.py --table-only --versus -->",
        "bench_real_pairs",
        "real_pairs_finetune_075.jsonl",
        ("real_pairs_1500.jsonl", "real_pairs_real_fraction_075.jsonl"),
    ),
    ("<!-- gan-final table -->", "bench_real_pairs", "real_pairs_gan_final.jsonl"),
    (
        "<!-- aware-tuned table: bench_real_pairs.py --table-only --versus -->",
        "bench_real_pairs",
        "real_pairs_aware_tuned.jsonl",
        ("real_pairs_uniform_average.jsonl",),
    ),
    (
        "<!-- uniform-average table: bench_real_pairs.py --table-only --versus -->",
        "bench_real_pairs",
        "real_pairs_uniform_average.jsonl",
        ("real_pairs_real_fraction_075.jsonl", "real_pairs_finetune_075.jsonl"),
    ),
    (
        "<!-- uniform-average ensemble table: bench_ensemble.py --table-only -->",
        "bench_ensemble",
        "ensemble_uniform_average.jsonl",
    ),
    (
        "<!-- paired-uniform table: bench_real_pairs.py --table-only --versus -->",
        "bench_real_pairs",
        "real_pairs_paired_uniform.jsonl",
        ("real_pairs_paired_init.jsonl", "real_pairs_uniform_average.jsonl"),
    ),
    (
        "<!-- calibrated-variants table: bench_calibrated_variants.py --table-only -->",
        "bench_calibrated_variants",
        "calibrated_variants.jsonl",
    ),
]


TABLE_CASES = [(*t, ()) if len(t) == 3 else t for t in RESULT_TABLES]


@pytest.mark.parametrize(("marker", "bench", "results", "versus"), TABLE_CASES)
def test_result_tables_are_what_their_benchmark_prints(marker, bench, results, versus, monkeypatch):
    """No figure of these tables is typed by hand: each is the benchmark's own output."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    module = __import__(bench)
    from bench_real_pairs import read_results

    def read(*names):
        return read_results(*(REPO / "benchmarks" / "results" / name for name in names))

    records = read(results)
    if bench == "bench_real_pairs":
        records = module.merge(records)
    expected = module.tables(records).strip()
    if versus:
        expected += "\n\n" + module.versus(records, module.merge(read(*versus)), " + ".join(versus))
    shown = []
    for page in RESULT_PAGES:
        text = page.read_text(encoding="utf-8")
        if marker in text:
            start = text.index(marker) + len(marker)
            shown.append((page.name, text[start : text.index("<!-- end", start)].strip()))
    assert shown, f"{marker} is on neither page"
    for page, table in shown:
        assert table == expected, page


def test_every_results_file_is_in_the_manifest_with_its_command_commit_and_citation():
    """benchmarks/results/MANIFEST.json names, for each results file, the command that wrote
    it, the last commit that changed it, and the doc sections that cite it: a file added or
    rewritten without its entry, or a citation that moved, fails here."""
    import json
    import shutil
    import subprocess

    results = REPO / "benchmarks" / "results"
    manifest = json.loads((results / "MANIFEST.json").read_text(encoding="utf-8"))["files"]
    present = {p.name for p in results.iterdir() if p.name != "MANIFEST.json"}
    assert set(manifest) == present, set(manifest) ^ present
    git = shutil.which("git") and (REPO / ".git").exists()
    for name, entry in manifest.items():
        script = re.search(r"benchmarks/[\w_]+\.py", entry["command"])
        assert script and (REPO / script.group(0)).exists(), (name, entry["command"])
        assert entry["cited_in"], name
        for cite in entry["cited_in"]:
            page, _, anchor = cite.partition("#")
            text = (REPO / page).read_text(encoding="utf-8")
            if anchor:
                headings = [_slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)]
                assert anchor in headings, (name, cite)
            cited = name in text or name.rsplit("_", 1)[0] in text or _generated_from(page, name)
            assert cited, (name, page)
        if git:
            path = f"benchmarks/results/{name}"
            diff = ["git", "diff", "--quiet", entry["commit"], "HEAD", "--", path]
            same = subprocess.run(diff, cwd=REPO, capture_output=True)
            # 0: unchanged since the commit named; 128: a shallow clone without that commit
            assert same.returncode in (0, 128), f"{name} changed since {entry['commit']}"


def _slug(heading: str) -> str:
    """The anchor mkdocs gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return re.sub(r"\s+", "-", text)


def _generated_from(page: str, name: str) -> bool:
    """A page written by a script from the results files (the measurements page)."""
    script = REPO / "docs" / "scripts" / "no_ground_truth_tables.py"
    return page == "docs/without-ground-truth.md" and (
        name in script.read_text(encoding="utf-8") or name == "nanopyx_decorr.json"
    )
