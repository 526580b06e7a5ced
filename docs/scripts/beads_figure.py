"""Draw docs/images/beads_psf.png: the bead measurement on the shared real bead stack.

python docs/scripts/beads_figure.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv=None) -> int:
    from napari_sisr.cli import main as cli

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        return cli(
            [
                "psf",
                str(args.data / "stack_3d" / "beads_zyx.tif"),
                "-o",
                str(Path(tmp) / "psf.json"),
                "--picture",
                str(ROOT / "docs" / "images" / "beads_psf.png"),
                "--overwrite",
            ]
        )


if __name__ == "__main__":
    sys.exit(main())
