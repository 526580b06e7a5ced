"""napari's Save Layers as OME-Zarr through the plugin's writer, and the menu entries."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from napari_sisr.core.errors import InputError
from napari_sisr.core.io.omezarr import read_ngff_metadata, read_state
from napari_sisr.widgets.writer import write_ome_zarr

pytestmark = pytest.mark.gui


def test_save_layer_writes_a_multiscale_with_units(make_napari_viewer, tmp_path, nuclei):
    viewer = make_napari_viewer()
    stack = np.stack([nuclei, nuclei[::-1]]).astype(np.uint16)  # (2, 512, 512)
    viewer.add_image(
        stack, name="st", scale=(2.0, 0.5, 0.5), translate=(0, 3.0, 4.0),
        units=("um", "um", "um"), axis_labels=("z", "y", "x"),
    )  # fmt: skip
    out = tmp_path / "st.ome.zarr"
    assert viewer.layers.save(str(out), selected=False, plugin="napari-sisr") == [str(out)]
    meta = read_ngff_metadata(out)
    assert meta["axes"] == "zyx" and meta["units"] == dict.fromkeys("zyx", "micrometer")
    assert meta["scale"] == {"z": 2.0, "y": 0.5, "x": 0.5}
    assert meta["translation"]["y"] == 3.0 and meta["translation"]["x"] == 4.0
    group = zarr.open_group(str(out), mode="r")
    np.testing.assert_array_equal(group["0"][:], stack)
    assert read_state(out)["complete"] is True


def test_rgb_layer_goes_to_ngff_channel_order(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    (path,) = write_ome_zarr(str(tmp_path / "rgb"), rgb, {"rgb": True, "name": "rgb"})
    assert path.endswith("rgb.ome.zarr")
    assert read_ngff_metadata(path)["axes"] == "cyx"
    np.testing.assert_array_equal(zarr.open_group(path, mode="r")["0"][:], rgb.transpose(2, 0, 1))


def test_refuses_to_replace_a_folder_that_is_not_zarr_and_leaves_nothing_on_failure(
    tmp_path, monkeypatch
):
    keep = tmp_path / "mine.zarr"
    keep.mkdir()
    (keep / "notes.txt").write_text("precious")
    with pytest.raises(InputError, match="not a zarr store"):
        write_ome_zarr(str(keep), np.zeros((8, 8)), {})
    assert (keep / "notes.txt").read_text() == "precious"

    from napari_sisr.core.io.omezarr import OmeZarrWriter

    def broken(self, region, data):
        raise OSError("disk full")

    monkeypatch.setattr(OmeZarrWriter, "write", broken)
    with pytest.raises(OSError, match="disk full"):
        write_ome_zarr(str(tmp_path / "half.ome.zarr"), np.zeros((8, 8)), {})
    assert not (tmp_path / "half.ome.zarr").exists()


def test_widgets_are_in_the_layers_menus(make_napari_viewer):
    make_napari_viewer()
    import napari._app_model as app_model

    get_app = getattr(app_model, "get_app_model", None) or app_model.get_app  # renamed in 0.7
    menus = get_app().menus

    def ids(menu):
        return [item.command.id for item in menus.get_menu(menu) if hasattr(item, "command")]

    # the widget's command id, or (napari 0.6) the plugin name and the widget's display name
    assert {"napari-sisr.sr_widget", "napari-sisr:Super-resolve"} & set(ids("napari/layers/filter"))
    assert {"napari-sisr.fit_widget", "napari-sisr:Fit degradation"} & set(
        ids("napari/layers/measure")
    )


def test_one_snapshot_for_every_front_end(make_napari_viewer):
    """The layer look-alike handed to the core is one type: what Super-resolve and Train take
    of a layer (LayerSnapshot.of) and what the writer takes of napari's meta (from_meta) read
    as the same input."""
    from napari_sisr.core.inference.input import canonical_input
    from napari_sisr.widgets._layers import LayerSnapshot
    from napari_sisr.widgets.superres.job import snapshot

    viewer = make_napari_viewer()
    stack = np.zeros((3, 40, 50), np.uint16)
    optics = {"na": 1.4, "wavelength_nm": 520.0}
    layer = viewer.add_image(
        stack,
        name="st",
        scale=(0.2, 0.06, 0.06),
        translate=(0, 1.0, 2.0),
        units=("um", "um", "um"),
        axis_labels=("z", "y", "x"),
        metadata={"napari_sisr": {"optics": optics}, "other": 1},
    )
    data, meta, _ = layer.as_layer_data_tuple()
    shots = [LayerSnapshot.of(layer), snapshot(layer), LayerSnapshot.from_meta(data, meta)]
    assert shots[0] == shots[1] and shots[0].metadata == {"napari_sisr": {"optics": optics}}
    read = [canonical_input(s) for s in shots]
    seen = [(inp.axes, inp.pixel_size, inp.units, inp.translate) for inp in read]
    assert seen[0] == seen[1] == seen[2]
    assert shots[0].shape_yx == (40, 50)
