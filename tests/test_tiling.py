"""Tile plans: coverage, equal windows, halo guarantees, stitching, blocks and blend weights."""

from __future__ import annotations

import numpy as np
import pytest

from napari_sisr.core.inference.tiling import (
    axis_windows,
    blend_sources,
    blend_weights,
    make_plan,
    stitch,
    symmetric_indices,
    take_window,
)

CASES = [
    ((61, 97), 16, 5, 2),
    ((64, 64), 64, 8, 4),
    ((10, 300), 32, 16, 3),
    ((257, 129), 50, 0, 2),
    ((5, 7), 64, 16, 4),
]


@pytest.mark.parametrize(("shape", "tile", "halo", "scale"), CASES)
def test_cores_partition_the_plane_and_windows_are_equal(shape, tile, halo, scale):
    plan = make_plan(shape, tile, halo, scale)
    count = np.zeros(shape, int)
    out_count = np.zeros(plan.out_shape, int)
    windows = set()
    for t in plan.tiles:
        count[t.core] += 1
        out_count[t.dst] += 1
        windows.add((t.src[0].stop - t.src[0].start, t.src[1].stop - t.src[1].start))
    assert (count == 1).all()
    assert (out_count == 1).all()
    assert len(windows) == 1
    (wy, wx) = windows.pop()
    assert wy <= tile + 2 * halo and wx <= tile + 2 * halo
    cores = {t.core[1].stop - t.core[1].start for t in plan.tiles[: plan.grid[1]]}
    assert max(cores) <= tile and wx == max(cores) + 2 * halo
    assert len(plan) == plan.grid[0] * plan.grid[1]


@pytest.mark.parametrize(("shape", "tile", "halo", "scale"), CASES)
def test_halo_lies_inside_the_window_unless_at_the_border(shape, tile, halo, scale):
    plan = make_plan(shape, tile, halo, scale)
    for t in plan.tiles:
        for ax in (0, 1):
            src, core = t.src[ax], t.core[ax]
            assert core.start - src.start == halo and src.stop - core.stop >= halo
            crop, dst = t.crop[ax], t.dst[ax]
            assert crop.start == (core.start - src.start) * scale
            assert crop.stop - crop.start == dst.stop - dst.start
            assert dst.start == core.start * scale


def test_stitch_of_an_upscaling_function_is_the_upscaled_image():
    rng = np.random.default_rng(0)
    img = rng.random((45, 70))
    plan = make_plan(img.shape, 16, 3, 2)
    outs = [np.kron(take_window(img, t.src), np.ones((2, 2))) for t in plan.tiles]
    np.testing.assert_array_equal(stitch(plan, outs), np.kron(img, np.ones((2, 2))))


@pytest.mark.parametrize(("shape", "tile", "halo", "scale"), CASES)
def test_windows_past_the_border_mirror_the_image(shape, tile, halo, scale):
    """A window that reaches past the image holds the image padded "symmetric" (the edge pixel
    repeated), as numpy and bioimage.io's runners pad: also windows larger than the image."""
    img = np.random.default_rng(1).random(shape)
    plan = make_plan(shape, tile, halo, scale)
    pad = max(halo, *(t.src[0].stop - shape[0] for t in plan.tiles),
              *(t.src[1].stop - shape[1] for t in plan.tiles), 0)  # fmt: skip
    padded = np.pad(img, pad, mode="symmetric")
    for t in plan.tiles:
        want = padded[t.src[0].start + pad : t.src[0].stop + pad,
                      t.src[1].start + pad : t.src[1].stop + pad]  # fmt: skip
        np.testing.assert_array_equal(take_window(img, t.src), want)
    assert list(symmetric_indices(-3, 4, 3)) == [2, 1, 0, 0, 1, 2, 2]


def test_blocks_group_tiles_of_a_row_and_match_chunks():
    plan = make_plan((100, 230), 32, 4, 2)
    for batch in (1, 2, 3, 8):
        blocks = plan.blocks(batch)
        ys, xs = plan.block_chunks(batch)
        assert sum(ys) == plan.out_shape[0] and sum(xs) == plan.out_shape[1]
        assert len(blocks) == len(ys) * len(xs)
        assert sum(len(b.tiles) for b in blocks) == len(plan)
        for b in blocks:
            assert all(t.index[0] == b.index[0] for t in b.tiles)
            assert b.src[1].start == b.tiles[0].src[1].start
            assert b.dst[1].stop - b.dst[1].start == xs[b.index[1]]


def test_blend_weights_are_positive_and_one_in_the_core_interior():
    plan = make_plan((90, 90), 30, 6, 2)
    for t in plan.tiles:
        w = blend_weights(plan, t)
        assert w.shape == tuple(2 * (s.stop - s.start) for s in t.src)
        assert (w > 0).all() and (w <= 1).all()
        cy = slice(t.crop[0].start, t.crop[0].stop)
        cx = slice(t.crop[1].start, t.crop[1].stop)
        assert np.allclose(w[cy, cx], 1.0)
        assert t in blend_sources(plan, t.dst)


def test_cores_are_balanced():
    plan = make_plan((680, 1100), 512, 16, 4)
    ys = [t.core[0].stop - t.core[0].start for t in plan.tiles[:: plan.grid[1]]]
    assert ys == [352, 328] and plan.window == (384, 400)  # cores + 2 x 16 halo
    xs = [t.dst[1].stop - t.dst[1].start for t in plan.tiles[: plan.grid[1]]]
    assert xs[:-1] == [1472, 1472] and 1472 % 64 == 0  # pyramid-friendly full blocks


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="tile"):
        axis_windows(10, 0, 2)
    with pytest.raises(ValueError, match="axis length"):
        axis_windows(0, 4, 2)
    with pytest.raises(ValueError, match="scale"):
        make_plan((10, 10), 4, 1, 0)
