"""Print pip constraints that pin every dependency of napari-sisr at its declared floor.

The floors in ``pyproject.toml`` are promises: the CI job "floors" installs the package with
these constraints and runs the test suite, so a floor that is no longer true fails there.

    python scripts/floor_constraints.py [--extras testing] > floors.txt
    pip install -c floors.txt -e ".[testing]"

Only the package's own dependencies (and those of the extras named) are pinned; the test
tools themselves (``--extras testing``) are left at their newest unless asked for.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)")


def floors(extras: list[str]) -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in extras:
        specs += project["optional-dependencies"][extra]
    out: dict[str, str] = {}
    for spec in specs:
        m = FLOOR.match(spec)
        if m:
            out[m.group(1).lower()] = m.group(3)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extras", nargs="*", default=[], help="extras whose floors to pin too")
    ap.add_argument("--except", dest="skip", nargs="*", default=[], help="names left unpinned")
    args = ap.parse_args(argv)
    skip = {s.lower() for s in args.skip}
    for name, version in sorted(floors(args.extras).items()):
        if name not in skip:
            print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
