"""``python -m napari_sisr.cli``: the same as the ``napari-sisr`` command."""

import sys

from napari_sisr.cli import main

sys.exit(main())
