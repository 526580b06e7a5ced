"""A picture of the axial fit: what the fitted model says an xz slice should look like, next
to the stack's own xz slice (and the restoration, when there is one).

Panels, each an xz view shown at the xy sampling (every plane repeated ``factor`` times):
an xy plane of the stack turned on its side (its rows playing the part of z), that plane
degraded by the fit as an axial slice would show it (the simulated xz), the stack's real xz
slice, and the restored xz slice; below them the fit's mismatch against the extra blur tried.
A simulated xz that looks like the real one is a fit to trust; one clearly sharper or softer
is not. PNG; matplotlib draws it where it is installed, else the panels are written in a row.
"""

from __future__ import annotations

import numpy as np

from .fit import AxialFit, degrade_rows

__all__ = ["axial_picture"]

#: Widest view drawn (xy pixels): wider stacks are cropped about their centre.
MAX_WIDTH = 256


def _views(stack: np.ndarray, fit: AxialFit, restored=None) -> list[tuple[str, np.ndarray]]:
    f = fit.factor
    z, y, x = stack.shape
    w = min(x, MAX_WIDTH)
    x0 = (x - w) // 2
    rows = min(y, z * f)  # as many lateral rows as the xz view has rows at the xy sampling
    y0 = (y - rows) // 2
    plane = np.asarray(stack[z // 2, y0 : y0 + rows, x0 : x0 + w], np.float64)
    sim = degrade_rows(plane, fit.sigma, f)
    xz = np.asarray(stack[:, y // 2, x0 : x0 + w], np.float64)
    views = [
        ("xy plane on its side (the target)", plane),
        (
            f"xy plane degraded by the fit (sigma {fit.sigma:.2f} px, 1 in {f})",
            np.repeat(sim, f, 0),
        ),
        ("the stack's xz slice", np.repeat(xz, f, axis=0)),
    ]
    if restored is not None:
        out = np.asarray(restored[:, y // 2, x0 : x0 + w], np.float64)  # a store: one slice
        views.append(("restored xz slice", out))
    return views


def axial_picture(stack, fit: AxialFit, path, restored=None) -> str:
    """Draw the axial fit of ``stack`` (module docstring) to the PNG ``path``; ``restored``
    (the isotropic stack: an array, or a zarr array read one slice) adds its xz slice.
    Returns the path."""
    from ..io.figures import pyplot
    from ..io.guard import staged

    data = stack if hasattr(stack, "shape") else np.asarray(stack)  # read a slice at a time
    views = _views(data, fit, restored)
    shown = np.concatenate([views[0][1].ravel(), views[2][1].ravel()])  # the stack's own pixels
    lo, hi = np.percentile(shown, [0.5, 99.8])
    hi = hi if hi > lo else lo + 1.0
    plt = pyplot()
    with staged(path) as tmp:
        if plt is None:
            _row(views, lo, hi, tmp)
        else:
            _draw(plt, views, fit, lo, hi, tmp)
    return str(path)


def _row(views, lo, hi, tmp) -> None:
    """The views side by side in grey, without matplotlib."""
    import imageio.v3 as iio

    height = max(v.shape[0] for _, v in views)
    tiles = []
    for _, v in views:
        g = np.clip((v - lo) / (hi - lo), 0, 1)
        tiles.append(np.pad(g, [(0, height - g.shape[0]), (0, 4)], constant_values=1))
    iio.imwrite(tmp, (np.hstack(tiles) * 255).astype(np.uint8), extension=".png")


def _draw(plt, views, fit: AxialFit, lo, hi, tmp) -> None:
    n = len(views)
    fig = plt.figure(figsize=(3.4 * n, 5.6))
    grid = fig.add_gridspec(2, n, height_ratios=[3, 1.4])
    for k, (title, v) in enumerate(views):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(v, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest", aspect="auto")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("x")
        ax.set_ylabel("z" if k else "y (as z)")
        ax.set_xticks([])
        ax.set_yticks([])
    ax = fig.add_subplot(grid[1, :])
    if fit.curve:
        s, c = zip(*fit.curve, strict=True)
        ax.plot(s, c, "o-", ms=3)
        ax.axvline(fit.sigma, color="tab:red", lw=1, label=f"fitted {fit.sigma:.2f} xy px")
        ax.legend(fontsize=7)
    ax.set_xlabel("extra axial blur tried (xy px)")
    ax.set_ylabel("spectrum mismatch")
    s = fit.summary()
    nm = f" ({s['sigma_nm']:.0f} nm)" if s.get("sigma_nm") else ""
    fig.suptitle(
        f"axial fit: z step {fit.ratio:.2f} xy px (restored 1 in {fit.factor}), extra axial "
        f"blur {fit.sigma:.2f} xy px{nm}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
