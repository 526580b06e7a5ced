"""Same pixels, same answer: the container (numpy, dask of any chunking, TIFF, OME-TIFF,
OME-Zarr with or without a pyramid, ours or ome-zarr-py's, a napari multiscale layer) and the
scheduler (one process or a dask cluster) never change a result."""

from __future__ import annotations

from types import SimpleNamespace

import dask.array as da
import numpy as np
import pytest
import tifffile
from conftest import tiny_generator as tiny

from napari_sisr.core.inference import intensity
from napari_sisr.core.inference.predict import predict


@pytest.fixture(scope="module")
def image(nuclei):
    return np.ascontiguousarray(nuclei[:256, :192])


def _write_ours(path, image, pyramid: bool):
    from napari_sisr.widgets.writer import write_ome_zarr

    write_ome_zarr(str(path), image, {"name": "img", "scale": (0.1, 0.1)})
    if not pyramid:
        import shutil

        import zarr

        group = zarr.open_group(str(path), mode="r+")
        ms = group.attrs["multiscales"]
        for ds in ms[0]["datasets"][1:]:
            shutil.rmtree(path / ds["path"])
        ms[0]["datasets"] = ms[0]["datasets"][:1]
        group.attrs["multiscales"] = ms
    return path


def _write_ome_zarr_py(path, image):
    writer = pytest.importorskip("ome_zarr.writer")
    import zarr
    from ome_zarr.scale import Scaler

    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    writer.write_image(image, group, axes="yx", scaler=Scaler(max_layer=2))
    return path


def containers(image, tmp_path):
    """The same pixels in every container the project reads."""
    tifffile.imwrite(tmp_path / "plain.tif", image)
    tifffile.imwrite(tmp_path / "tiled.tif", image, tile=(64, 64))
    tifffile.imwrite(tmp_path / "img.ome.tif", image, ome=True, tile=(64, 64))
    levels = [image, image[::2, ::2], image[::4, ::4]]
    return {
        "numpy": image,
        "dask 256x192": da.from_array(image, chunks=-1),
        "dask 37x50": da.from_array(image, chunks=(37, 50)),
        "dask 100x33": da.from_array(image, chunks=(100, 33)),
        "TIFF": tmp_path / "plain.tif",
        "tiled TIFF": tmp_path / "tiled.tif",
        "OME-TIFF": tmp_path / "img.ome.tif",
        "OME-Zarr (ours, pyramid)": _write_ours(tmp_path / "p.ome.zarr", image, True),
        "OME-Zarr (ours, one level)": _write_ours(tmp_path / "o.ome.zarr", image, False),
        "OME-Zarr (ome-zarr-py)": _write_ome_zarr_py(tmp_path / "py.ome.zarr", image),
        "multiscale layer": SimpleNamespace(
            data=levels,
            multiscale=True,
            rgb=False,
            scale=(1.0, 1.0),
            translate=(0.0, 0.0),
            name="img",
        ),  # fmt: skip
    }


@pytest.mark.parametrize("budget", [None, 2000])
def test_every_container_gives_the_same_output(image, tmp_path, monkeypatch, budget):
    """With the whole image read for its statistics and with a small sampling budget (the
    windowed sample of large images), every container gives the same output."""
    if budget is not None:
        monkeypatch.setattr(intensity, "MAX_SAMPLE", budget)
    net = tiny()
    opts = dict(tile=64, engine="torch", precision="fp32", dtype="float32")
    ref = np.asarray(predict(image, net, **opts))
    rng = float(np.ptp(ref))
    worst = {}
    for name, source in containers(image, tmp_path).items():
        out = np.asarray(predict(source, net, **opts))
        worst[name] = float(np.abs(out - ref).max()) / rng
    print("largest difference from numpy, fraction of the range:", worst)
    assert max(worst.values()) <= 1e-5, worst


def test_windowed_sample_is_chunk_independent_and_reads_few_chunks(image):
    sample = intensity.strided_sample(image[..., None], max_pixels=3000)
    for chunks in [(16, 16), (100, 7), (256, 192)]:
        d = da.from_array(image[..., None], chunks=(*chunks, 1))
        np.testing.assert_array_equal(intensity.strided_sample(d, max_pixels=3000), sample)
    assert len(sample) < image.size
    windows = intensity.sample_windows(8192, 6000, 1 << 22)
    assert len(windows) == 16 * 16
    n = sum((w[0].stop - w[0].start) * (w[1].stop - w[1].start) for w in windows)
    assert 0.9 * (1 << 22) <= n <= 1 << 22
    assert intensity.sample_windows(10, 10, 3000) == [(slice(0, 10), slice(0, 10))]
    # a long thin plane still gets a valid sample
    assert all(w[0].stop <= 3 for w in intensity.sample_windows(3, 100_000, 1000))


@pytest.fixture(scope="module")
def cluster_client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_every_input_kind_runs_on_a_cluster(image, tmp_path, cluster_client):
    """numpy, TIFF, OME-TIFF, OME-Zarr and a multiscale layer run on a LocalCluster of worker
    processes (a TIFF's open file never travels) and equal the single-process result."""
    net = tiny()
    opts = dict(tile=64, engine="torch", precision="fp32")
    ref = np.asarray(predict(image, net, **opts))
    kinds = containers(image, tmp_path)
    for name in ["numpy", "TIFF", "OME-TIFF", "OME-Zarr (ours, pyramid)", "multiscale layer"]:
        out = predict(kinds[name], net, scheduler=cluster_client, **opts)
        np.testing.assert_array_equal(np.asarray(out.compute()), ref, err_msg=name)
    written = predict(
        kinds["tiled TIFF"], net, scheduler=cluster_client, out=tmp_path / "c.zarr", **opts
    )
    np.testing.assert_array_equal(np.asarray(written), ref)


def test_tiff_path_on_a_cluster_from_the_command_line(image, tmp_path, cluster_client, capsys):
    from napari_sisr.cli import main
    from napari_sisr.core.modelio import save_model

    tifffile.imwrite(tmp_path / "in.tif", image)
    save_model(tmp_path / "net", tiny(), {})
    address = cluster_client.scheduler.address
    code = main(
        ["predict", str(tmp_path / "in.tif"), "-o", str(tmp_path / "out.tif"), "--model",
         str(tmp_path / "net.json"), "--scheduler", address, "--engine", "torch",
         "--precision", "fp32", "-q"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    ref = np.asarray(predict(image, tiny(), tile=512, engine="torch", precision="fp32"))
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), ref)
