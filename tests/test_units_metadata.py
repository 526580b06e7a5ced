"""Calibrations in every SI length spelling: read from ImageJ and OME metadata, written as
UDUNITS-2 names to OME-Zarr and as OME symbols to OME-TIFF; the optics of OME-XML."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import zarr
from conftest import tiny_generator as tiny

from napari_sisr.core.inference.input import canonical_input
from napari_sisr.core.inference.predict import predict
from napari_sisr.core.io.units import length_unit, ome_symbol, to_micrometres


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("nm", "nanometer"), ("nanometre", "nanometer"), ("Nanometers", "nanometer"),
        ("µm", "micrometer"), ("\u03bcm", "micrometer"), ("\\u00B5m", "micrometer"),
        ("um", "micrometer"), ("micron", "micrometer"), ("microns", "micrometer"),
        ("micrometre", "micrometer"), ("mm", "millimeter"), ("cm", "centimeter"),
        ("m", "meter"), ("pm", "picometer"), ("Å", "angstrom"), ("angstrom", "angstrom"),
        ("pixel", None), ("", None), (None, None), ("s", None), ("kilometre", None),
    ],
)  # fmt: skip
def test_every_length_spelling_reads_as_its_udunits_name(spelling, name):
    assert length_unit(spelling) == name


def test_conversions_and_ome_symbols():
    assert to_micrometres(60, "nm") == pytest.approx(0.06)
    assert to_micrometres(0.5, "mm") == pytest.approx(500)
    assert to_micrometres(3, "pixel") is None
    assert ome_symbol("nanometer") == "nm" and ome_symbol("micron") == "µm"


def _imagej(path, unit, res, spacing=None):
    meta = {"unit": unit, "axes": "ZYX" if spacing else "YX"}
    if spacing:
        meta["spacing"] = spacing
    data = np.zeros((3, 40, 50) if spacing else (40, 50), np.uint16)
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / res, 1 / res), metadata=meta)
    return path


@pytest.mark.parametrize("unit", ["nm", "nanometer", "nanometre"])
def test_imagej_tiff_in_nanometres_keeps_its_pixel_size(tmp_path, unit):
    inp = canonical_input(_imagej(tmp_path / "a.tif", unit, 60.0, spacing=200.0))
    assert inp.pixel_size["x"] == pytest.approx(60.0)
    assert inp.pixel_size["z"] == pytest.approx(200.0)
    assert inp.units == {"x": "nanometer", "y": "nanometer", "z": "nanometer"}


def test_imagej_micron_spellings(tmp_path):
    for i, unit in enumerate(["micron", "\\u00B5m", "um"]):  # ImageJ writes ASCII only
        inp = canonical_input(_imagej(tmp_path / f"{i}.tif", unit, 0.065))
        assert inp.pixel_size["x"] == pytest.approx(0.065)
        assert inp.units["x"] == "micrometer"


def test_ome_tiff_in_nm_goes_to_ngff_as_nanometer(tmp_path):
    image = np.random.default_rng(0).integers(0, 1000, (48, 56)).astype(np.uint16)
    src = tmp_path / "in.ome.tif"
    tifffile.imwrite(
        src, image, ome=True,
        metadata={"axes": "YX", "PhysicalSizeX": 60.0, "PhysicalSizeXUnit": "nm",
                  "PhysicalSizeY": 60.0, "PhysicalSizeYUnit": "nm"},
    )  # fmt: skip
    out = tmp_path / "out.ome.zarr"
    predict(str(src), tiny(), tile=64, out=out)
    axes = zarr.open_group(str(out), mode="r").attrs["multiscales"][0]["axes"]
    assert [a["unit"] for a in axes] == ["nanometer", "nanometer"]
    ms = zarr.open_group(str(out), mode="r").attrs["multiscales"][0]["datasets"][0]
    assert ms["coordinateTransformations"][0]["scale"] == pytest.approx([30.0, 30.0])
    tif_out = tmp_path / "out.ome.tif"
    predict(str(src), tiny(), tile=64, out=tif_out)
    with tifffile.TiffFile(tif_out) as tif:
        assert 'PhysicalSizeXUnit="nm"' in tif.ome_metadata
        assert 'PhysicalSizeX="30.0"' in tif.ome_metadata


def test_ome_optics_are_read_through_ome_types(tmp_path):
    """NA and immersion of the image's objective, emission wavelength converted to nm, and the
    acquisition mode as the PSF modality."""
    from ome_types import model as m

    image = np.zeros((32, 32), np.uint16)
    ome = m.OME(
        instruments=[
            m.Instrument(id="Instrument:0", objectives=[
                m.Objective(id="Objective:0", lens_na=1.4, immersion="Oil")])
        ],
        images=[
            m.Image(
                id="Image:0",
                objective_settings=m.ObjectiveSettings(id="Objective:0"),
                pixels=m.Pixels(
                    id="Pixels:0", dimension_order="XYCZT", type="uint16", size_x=32,
                    size_y=32, size_c=1, size_z=1, size_t=1, physical_size_x=0.08,
                    physical_size_y=0.08, metadata_only=True,
                    channels=[m.Channel(id="Channel:0:0", emission_wavelength=0.52,
                                        emission_wavelength_unit="µm",
                                        acquisition_mode="LaserScanningConfocalMicroscopy")],
                ),
            )
        ],
    )  # fmt: skip
    path = tmp_path / "o.ome.tif"
    tifffile.imwrite(path, image, description=ome.to_xml().encode(), metadata=None)
    inp = canonical_input(str(path))
    assert inp.optics["na"] == pytest.approx(1.4)
    assert inp.optics["wavelength_nm"] == pytest.approx(520.0)
    assert inp.optics["immersion"] == "oil"
    assert inp.optics["modality"] == "confocal"
    assert inp.pixel_size["x"] == pytest.approx(0.08) and inp.units["x"] == "micrometer"


def test_a_typed_pixel_size_is_in_micrometres_whatever_the_file_says(tmp_path):
    inp = canonical_input(_imagej(tmp_path / "a.tif", "nm", 60.0), pixel_size=0.05)
    assert inp.pixel_size["x"] == 0.05 and inp.units["x"] == "micrometer"
