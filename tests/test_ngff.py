"""OME-Zarr versions: NGFF 0.5 (zarr v3, sharded) output, 0.4 / 0.5 / 0.6 metadata read
through one reader, remote stores over HTTP."""

from __future__ import annotations

import functools
import http.server
import threading

import numpy as np
import pytest
import zarr
from conftest import tiny_generator as tiny

from napari_sisr.core.errors import InputError
from napari_sisr.core.inference.predict import predict
from napari_sisr.core.io.images import open_lazy
from napari_sisr.core.io.ngff import is_url, read_multiscales
from napari_sisr.core.io.omezarr import read_ngff_metadata


@pytest.fixture(scope="module")
def image(pyramid_image):
    return pyramid_image


def test_ngff_05_is_zarr_v3_sharded_and_equal_to_memory(image, tmp_path):
    net = tiny()
    out = tmp_path / "sr.ome.zarr"
    arr = predict(image, net, tile=64, out=out, ngff="0.5", pixel_size=0.65)
    ref = predict(image, net, tile=64).compute()
    np.testing.assert_array_equal(arr.compute(), ref)
    group = zarr.open_group(str(out), mode="r")
    assert group.metadata.zarr_format == 3
    assert group.attrs["ome"]["version"] == "0.5"
    assert "multiscales" not in group.attrs  # 0.5 keeps it under "ome" only
    a0 = group["0"]
    assert a0.shards == (128, 128)  # one shard per written block (64 LR px -> 128 HR px)
    assert a0.metadata.dimension_names == ("y", "x")
    # one shard file per block instead of one file per chunk
    n_files = sum(1 for p in (out / "0").rglob("*") if p.is_file() and p.name != "zarr.json")
    assert n_files == len(range(0, 600, 128)) * len(range(0, 512, 128))
    ms = read_multiscales(group)
    assert ms.version == "0.5" and ms.axes == "yx"
    assert ms.units == {"y": "micrometer", "x": "micrometer"}
    assert ms.scales[0] == pytest.approx([0.325, 0.325])
    assert ms.scales[1] == pytest.approx([0.65, 0.65])
    np.testing.assert_array_equal(open_lazy(out).compute(), ref)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_reader_opens_both_versions_with_scales_and_units(image, tmp_path, version):
    reader = pytest.importorskip("ome_zarr.reader")
    from ome_zarr.io import parse_url

    out = tmp_path / "sr.ome.zarr"
    predict(image, tiny(), tile=64, out=out, ngff=version, pixel_size=0.65)
    node = list(reader.Reader(parse_url(str(out)))())[0]
    assert node.data[0].shape == (600, 512)
    assert [a["unit"] for a in node.metadata["axes"]] == ["micrometer", "micrometer"]
    scale = node.metadata["coordinateTransformations"][0][0]["scale"]
    assert scale == pytest.approx([0.325, 0.325])


def test_a_resumed_job_keeps_its_ngff_version(image, tmp_path):
    out = tmp_path / "sr.ome.zarr"
    predict(image, tiny(), tile=64, out=out, ngff="0.5")
    with pytest.raises(InputError, match="exists"):
        predict(image, tiny(), tile=64, out=out, ngff="0.4")
    with pytest.raises(ValueError, match="ngff"):
        predict(image, tiny(), tile=64, out=tmp_path / "x.zarr", ngff="0.3")


def _write_v06(path, data, pixel=0.2):
    """A hand-written OME-NGFF 0.6 image: axes in a coordinate system, sequence transforms."""
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    group.create_array("s0", data=data, dimension_names=["c", "y", "x"])
    group.attrs["ome"] = {
        "version": "0.6",
        "multiscales": [
            {
                "coordinateSystems": [
                    {
                        "name": "physical",
                        "axes": [
                            {"name": "c", "type": "channel"},
                            {"name": "y", "type": "space", "unit": "nanometer"},
                            {"name": "x", "type": "space", "unit": "nanometer"},
                        ],
                    }
                ],
                "datasets": [
                    {
                        "path": "s0",
                        "coordinateTransformations": [
                            {
                                "type": "sequence",
                                "input": "s0",
                                "output": "physical",
                                "transformations": [
                                    {"type": "scale", "scale": [1.0, pixel, pixel]},
                                    {"type": "translation", "translation": [0.0, 5.0, 7.0]},
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
    }


def test_ngff_06_input_keeps_axes_units_and_pixel_size(image, tmp_path):
    data = np.stack([image[:64, :80], image[64:128, :80]])
    src = tmp_path / "in.ome.zarr"
    _write_v06(src, data, pixel=200.0)
    meta = read_ngff_metadata(src)
    assert meta["axes"] == "cyx"
    assert meta["units"] == {"y": "nanometer", "x": "nanometer"}
    assert meta["scale"] == {"c": 1.0, "y": 200.0, "x": 200.0}
    assert meta["translation"]["y"] == 5.0
    out = tmp_path / "out.ome.zarr"
    arr = predict(str(src), tiny(), tile=32, out=out)
    assert arr.shape == (2, 128, 160)
    np.testing.assert_array_equal(arr.compute(), predict(data, tiny(), tile=32, axes="cyx"))
    written = read_ngff_metadata(out)
    assert written["axes"] == "cyx"
    assert written["units"] == {"y": "nanometer", "x": "nanometer"}
    assert written["scale"]["y"] == pytest.approx(100.0)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def http_root(tmp_path):
    """A folder served over HTTP on the loopback interface for the test's lifetime."""
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_remote_ome_zarr_over_http(image, http_root, version):
    pytest.importorskip("fsspec")
    pytest.importorskip("aiohttp")
    root, url = http_root
    src = root / "remote.ome.zarr"
    predict(image[:64, :96], tiny(), tile=32, out=src, ngff=version, pixel_size=0.5)
    location = f"{url}/remote.ome.zarr"
    assert is_url(location) and not is_url(str(src)) and not is_url("file:///x.zarr")
    meta = read_ngff_metadata(location)
    assert meta["axes"] == "yx" and meta["scale"]["y"] == pytest.approx(0.25)
    local = open_lazy(src).compute()
    np.testing.assert_array_equal(open_lazy(location).compute(), local)
    # a remote input runs through the whole pipeline and keeps its pixel size
    out = predict(location, tiny(), tile=32)
    np.testing.assert_array_equal(out.compute(), predict(local, tiny(), tile=32).compute())


def test_remote_store_that_does_not_exist_is_named(http_root):
    pytest.importorskip("fsspec")
    pytest.importorskip("aiohttp")
    _, url = http_root
    with pytest.raises(InputError, match="missing.ome.zarr"):
        open_lazy(f"{url}/missing.ome.zarr")
