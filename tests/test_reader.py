"""napari's File > Open for TIFF through the plugin: pixel sizes, units, axes and optics kept."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from conftest import shared_path

from napari_sisr.core.inference.input import canonical_input
from napari_sisr.widgets.reader import get_reader, read_tiff_layers

pytestmark = pytest.mark.gui


def _imagej_stack(path, nm_xy=60.0, nm_z=200.0):
    data = np.arange(3 * 40 * 50, dtype=np.uint16).reshape(3, 40, 50)
    meta = {"unit": "nm", "axes": "ZYX", "spacing": nm_z}
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / nm_xy, 1 / nm_xy), metadata=meta)
    return data


def _ome_with_optics(path):
    """A 32 x 32 OME-TIFF at 80 nm from a 1.4 NA oil objective, 520 nm emission, confocal."""
    from ome_types import model as m

    ome = m.OME(
        instruments=[m.Instrument(id="Instrument:0", objectives=[
            m.Objective(id="Objective:0", lens_na=1.4, immersion="Oil")])],
        images=[m.Image(
            id="Image:0", objective_settings=m.ObjectiveSettings(id="Objective:0"),
            pixels=m.Pixels(
                id="Pixels:0", dimension_order="XYCZT", type="uint16", size_x=32, size_y=32,
                size_c=1, size_z=1, size_t=1, physical_size_x=0.08, physical_size_y=0.08,
                metadata_only=True,
                channels=[m.Channel(id="Channel:0:0", emission_wavelength=520.0,
                                    acquisition_mode="LaserScanningConfocalMicroscopy")],
            ),
        )],
    )  # fmt: skip
    image = np.random.default_rng(0).integers(0, 4000, (32, 32)).astype(np.uint16)
    tifffile.imwrite(path, image, description=ome.to_xml().encode(), metadata=None)
    return image


def test_an_imagej_stack_opens_with_its_pixel_sizes(make_napari_viewer, tmp_path):
    path = tmp_path / "stack.tif"
    data = _imagej_stack(path)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path), plugin="napari-sisr")
    np.testing.assert_array_equal(layer.data, data)
    assert tuple(layer.scale) == pytest.approx((0.2, 0.06, 0.06))  # micrometres
    assert [str(u) for u in layer.units] == ["micrometer"] * 3
    assert tuple(layer.axis_labels) == ("z", "y", "x")
    # a file without pixel sizes opens as napari's own reader opens it
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, data[0])
    (flat,) = viewer.open(str(plain), plugin="napari-sisr")
    assert tuple(flat.scale) == (1.0, 1.0) and str(flat.units[0]) == "pixel"
    assert get_reader(str(tmp_path / "a.png")) is None and get_reader([str(path)] * 2) is None


def test_the_widgets_read_a_layer_as_the_command_line_reads_its_file(tmp_path):
    """Pixel size and optics of an OME-TIFF: the same for the layer this reader makes as for
    the file itself (so the automatic degradation steers alike in napari and on the command
    line)."""
    from types import SimpleNamespace

    path = tmp_path / "o.ome.tif"
    _ome_with_optics(path)
    ((data, kwargs, kind),) = read_tiff_layers(str(path))
    assert kind == "image" and kwargs["metadata"]["napari_sisr"]["optics"]["na"] == 1.4
    layer = SimpleNamespace(data=data, multiscale=False, rgb=False, name="o", **{
        k: kwargs[k] for k in ("scale", "units", "axis_labels", "metadata")})  # fmt: skip
    layer.units = ("micrometer", "micrometer")  # as napari holds "um"
    via_layer, via_file = canonical_input(layer), canonical_input(str(path))
    assert via_layer.optics == via_file.optics
    assert via_layer.pixel_size["x"] == pytest.approx(via_file.pixel_size["x"]) == 0.08
    assert via_layer.units["x"] == via_file.units["x"] == "micrometer"


def test_a_real_confocal_sted_pair_overlays_when_opened(make_napari_viewer):
    """The 60 nm confocal capture and the 15 nm STED image of one field span the same extent
    (napari's own reader left the confocal in a quarter of the STED image's corner)."""
    lr_path = shared_path("pairs/confocal_sted_synapses/bassoon_homer_chA_561_LR_confocal_60nm.tif")
    hr_path = shared_path("pairs/confocal_sted_synapses/bassoon_homer_chA_561_HR_STED_15nm.tif")
    viewer = make_napari_viewer()
    (lr,) = viewer.open(str(lr_path), plugin="napari-sisr")
    (hr,) = viewer.open(str(hr_path), plugin="napari-sisr")
    span = [np.array(layer.data.shape) * np.array(layer.scale) for layer in (lr, hr)]
    np.testing.assert_allclose(span[0], span[1], rtol=0.01)
    assert tuple(hr.scale) == pytest.approx((0.015, 0.015))
