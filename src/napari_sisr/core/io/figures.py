"""matplotlib for the pictures the package draws, where it is installed.

matplotlib is not a dependency of the package: every picture has a plain fallback (panels
side by side, written by imageio) for when :func:`pyplot` returns ``None``.
"""

from __future__ import annotations

__all__ = ["pyplot"]


def pyplot():
    """matplotlib's pyplot on the Agg backend, or ``None`` where matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
