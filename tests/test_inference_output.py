"""OME-Zarr and TIFF output: metadata, pyramid, cancel + resume, refusal, cluster runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from conftest import tiny_generator as tiny

from napari_sisr.core.inference.predict import iter_predict, predict
from napari_sisr.core.io.images import open_lazy
from napari_sisr.core.io.omezarr import downsample2, read_state
from napari_sisr.core.progress import Cancelled, run_to_end


@pytest.fixture(scope="module")
def image(nuclei):
    return nuclei[:150, :230]


@pytest.fixture(scope="module")
def big(pyramid_image):
    return pyramid_image


def test_ome_zarr_metadata_pyramid_and_values(big, tmp_path):
    net = tiny()
    out = tmp_path / "sr.zarr"
    arr = predict(big, net, tile=64, out=out, pixel_size=0.65)
    ref = predict(big, net, tile=64).compute()
    np.testing.assert_array_equal(arr.compute(), ref)
    group = zarr.open_group(str(out), mode="r")
    assert group.attrs["napari_sisr"]["complete"] is True
    ms = group.attrs["multiscales"][0]
    assert ms["version"] == "0.4"
    assert [a["name"] for a in ms["axes"]] == ["y", "x"]
    assert ms["axes"][0]["unit"] == "micrometer"
    datasets = ms["datasets"]
    assert len(datasets) >= 2
    s0 = datasets[0]["coordinateTransformations"]
    assert s0[0]["scale"] == pytest.approx([0.325, 0.325])
    assert s0[1]["translation"] == pytest.approx([0.65 * (1 - 2) / 4] * 2)
    lvl0, lvl1 = np.asarray(group["0"]), np.asarray(group["1"])
    assert lvl1.shape == (300, 256) and lvl1.dtype == big.dtype
    np.testing.assert_allclose(lvl1, np.rint(downsample2(lvl0)), atol=0)
    scale1 = datasets[1]["coordinateTransformations"][0]["scale"]
    assert scale1 == pytest.approx([0.65, 0.65])
    np.testing.assert_array_equal(open_lazy(out).compute(), ref)


def test_ome_zarr_readable_by_ome_zarr_package(big, tmp_path):
    reader = pytest.importorskip("ome_zarr.reader")
    from ome_zarr.io import parse_url

    out = tmp_path / "sr.zarr"
    predict(big, tiny(), tile=64, out=out)
    nodes = list(reader.Reader(parse_url(str(out)))())
    data = nodes[0].data
    assert data[0].shape == (600, 512)
    assert len(data) >= 2


def test_stack_rgb_and_channel_layouts_go_to_ngff_order(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
    arr = predict(rgb, tiny(), tile=32, out=tmp_path / "rgb.zarr")
    assert arr.shape == (80, 100, 3)  # read back in the input's layout
    group = zarr.open_group(str(tmp_path / "rgb.zarr"), mode="r")
    assert [a["name"] for a in group.attrs["multiscales"][0]["axes"]] == ["c", "y", "x"]
    assert group["0"].shape == (3, 80, 100)
    np.testing.assert_array_equal(arr.compute(), predict(rgb, tiny(), tile=32).compute())
    tczyx = rng.random((2, 2, 3, 20, 24)).astype(np.float32)
    arr5 = predict(tczyx, tiny(), tile=16, out=tmp_path / "s.zarr", axes="tczyx")
    assert arr5.shape == (2, 2, 3, 40, 48)
    np.testing.assert_allclose(arr5.compute(), predict(tczyx, tiny(), tile=16, axes="tczyx"))


def test_cancel_leaves_incomplete_output_and_rerun_resumes(image, tmp_path):
    net = tiny()
    out = tmp_path / "sr.zarr"
    seen = []

    def stop():
        return len(seen) >= 3

    gen = iter_predict(image, net, tile=32, out=out, stop=stop, num_workers=1)
    with pytest.raises(Cancelled):
        for update in gen:
            seen.append(update)
    state = read_state(out)
    assert state["complete"] is False
    done = sum(b - a for a, b in state["done_chunks"])
    assert 0 < done < state["total_chunks"]
    assert "multiscales" not in zarr.open_group(str(out), mode="r").attrs
    with pytest.raises(ValueError, match="incomplete"):
        open_lazy(out)
    updates = []
    arr = run_to_end(iter_predict(image, net, tile=32, out=out), updates.append)
    assert updates[0].resumed >= done * 1  # blocks of one tile each
    assert read_state(out)["complete"] is True
    np.testing.assert_array_equal(arr.compute(), predict(image, net, tile=32).compute())


def test_closing_the_generator_early_marks_output_incomplete(image, tmp_path):
    out = tmp_path / "sr.zarr"
    gen = iter_predict(image, tiny(), tile=32, out=out, num_workers=1)
    next(gen), next(gen)
    gen.close()  # what a GUI worker does when its widget closes
    state = read_state(out)
    assert state["complete"] is False and state["done_chunks"]
    arr = predict(image, tiny(), tile=32, out=out)  # resumes
    np.testing.assert_array_equal(arr.compute(), predict(image, tiny(), tile=32).compute())


def test_existing_output_is_refused_unless_overwrite(image, tmp_path):
    out = tmp_path / "sr.zarr"
    predict(image, tiny(), tile=64, out=out)
    with pytest.raises(FileExistsError, match="overwrite"):
        predict(image, tiny(), tile=64, out=out)
    other = tmp_path / "other.zarr"
    zarr.open_group(str(other), mode="w")
    with pytest.raises(FileExistsError):
        predict(image, tiny(), tile=64, out=other)
    predict(image, tiny(), tile=64, out=out, overwrite=True)
    tif = tmp_path / "sr.tif"
    tif.write_bytes(b"x")
    with pytest.raises(FileExistsError):
        predict(image, tiny(), tile=64, out=tif)


def test_tiff_output_with_physical_pixel_size(image, tmp_path):
    import tifffile

    out = tmp_path / "sr.tif"
    res = predict(image, tiny(), tile=64, out=out, pixel_size=0.5)
    with tifffile.TiffFile(out) as tif:
        np.testing.assert_array_equal(tif.asarray(), res)
        assert 'PhysicalSizeX="0.25"' in tif.ome_metadata


def test_resume_refuses_a_different_job(image, tmp_path):
    out = tmp_path / "sr.zarr"
    gen = iter_predict(image, tiny(), tile=32, out=out, stop=lambda: True)
    with pytest.raises(Cancelled):
        list(gen)
    assert json.loads(json.dumps(read_state(out)))["complete"] is False
    with pytest.raises(FileExistsError):
        predict(image, tiny(), tile=48, out=out)  # other tile size: not the same job


@pytest.mark.slow
def test_local_cluster_of_two_processes_matches_local_run(image, tmp_path):
    distributed = pytest.importorskip("distributed")
    net = tiny()
    ref = predict(image, net, tile=64).compute()
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        arr = predict(image, net, tile=64, out=tmp_path / "c.zarr", scheduler=client)
        np.testing.assert_array_equal(arr.compute(), ref)
        mem = run_to_end(iter_predict(image, net, tile=64, scheduler=client))
        np.testing.assert_array_equal(mem, ref)
        persisted = predict(image, net, tile=64, scheduler=client)
        np.testing.assert_array_equal(persisted.compute(), ref)


def test_cancel_waits_for_the_forward_pass_under_way_only(image):
    """A tile queued for the network gives up once the job is cancelled."""
    import time

    net = tiny()
    passes = []

    def slow(module, args, output):
        passes.append(1)
        time.sleep(1.0)  # the second worker thread queues its tile meanwhile

    net.register_forward_hook(slow)
    gen = iter_predict(
        image, net, engine="torch", tile=16, num_workers=2, stop=lambda: len(passes) >= 1
    )
    with pytest.raises(Cancelled):
        list(gen)
    # the pass under way when cancelled finishes; the tile waiting for its turn never runs
    assert len(passes) == 1, len(passes)


KILL_DURING_CREATION = """
import sys, time, numpy as np, tifffile
from napari_sisr.core.io import omezarr
real = omezarr.OmeZarrWriter._create
def slow(self, where, job, total):
    real(self, where, job, total)
    open(sys.argv[3], "w").write("creating")  # the arrays exist, the rename has not happened
    time.sleep(60)
omezarr.OmeZarrWriter._create = slow
from napari_sisr import predict
from napari_sisr.core.archs import build_generator
import torch
torch.manual_seed(0)
net = build_generator("srresnet", "fast", 2, 1, n_blocks=1, nf=8)
predict(tifffile.imread(sys.argv[1]), net, tile=32, out=sys.argv[2])
"""


def test_kill_during_creation_then_the_same_job_runs(image, tmp_path):
    """kill -9 while the OME-Zarr store is being created: nothing half-made is left to trip on."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import tifffile

    tifffile.imwrite(tmp_path / "in.tif", image)
    out, marker = tmp_path / "sr.ome.zarr", tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_DURING_CREATION, str(tmp_path / "in.tif"), str(out),
         str(marker)],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists()  # only the hidden folder it was being built in
    torch.manual_seed(0)
    net = tiny()
    arr = predict(image, net, tile=32, out=out)  # no overwrite needed, no KeyError
    np.testing.assert_array_equal(arr.compute(), predict(image, net, tile=32).compute())
    assert not list(tmp_path.glob(".sr.ome.zarr.creating-*"))  # the leftover is cleaned


def test_one_job_per_output_store(image, tmp_path):
    from napari_sisr.core.errors import InputError
    from napari_sisr.core.io.omezarr import StoreLock

    out = tmp_path / "busy.zarr"
    held = StoreLock(out).acquire()  # another job holds it
    try:
        with pytest.raises(InputError, match="another job is writing"):
            predict(image, tiny(), tile=32, out=out, overwrite=True)
    finally:
        held.release()
    assert predict(image, tiny(), tile=32, out=out).shape == (
        2 * image.shape[0],
        2 * image.shape[1],
    )


def test_layer_units_and_axis_labels_become_the_input_metadata():
    """A napari layer's axis labels name the axes (an RGB layer's leave out the colour axis)
    and its units (other than 'pixel') travel with them; napari's default labels name nothing."""
    from types import SimpleNamespace

    from napari_sisr.core.inference.input import canonical_input

    def layer(shape, rgb, labels, units):
        data = np.zeros(shape, np.float32)
        return SimpleNamespace(data=data, rgb=rgb, multiscale=False, scale=(0.2,) * len(labels),
                               translate=(0.0,) * len(labels), axis_labels=labels, units=units,
                               name="l")  # fmt: skip

    inp = canonical_input(layer((4, 16, 16), False, ("t", "y", "x"), ("pixel", "um", "um")))
    assert inp.axes == "tyx" and not inp.axes_guessed
    assert inp.units == {"y": "micrometer", "x": "micrometer"}  # UDUNITS names inside
    rgb = canonical_input(layer((16, 16, 3), True, ("y", "x"), ("micrometer", "micrometer")))
    assert rgb.axes == "yxc" and rgb.units == {"y": "micrometer", "x": "micrometer"}
    plain = canonical_input(layer((4, 16, 16), False, ("-3", "-2", "-1"), ("pixel",) * 3))
    assert plain.axes_guessed and plain.units == {}


def test_a_full_disk_is_named_and_leaves_no_partial_file(image, tmp_path, monkeypatch):
    """A write that fails half-way ("262144 requested and 16328 written", EFBIG) is reported
    as the file that could not be written; a TIFF leaves nothing, an OME-Zarr stays resumable."""
    import errno

    import tifffile

    from napari_sisr.core.errors import InputError
    from napari_sisr.core.io.omezarr import OmeZarrWriter

    def short_write(path, *a, **k):
        Path(path).write_bytes(b"II*\x00partial")
        raise OSError("262144 requested and 16328 written")

    monkeypatch.setattr(tifffile, "imwrite", short_write)
    with pytest.raises(InputError, match=r"could not write .*sr\.tif.*disk full"):
        predict(image, tiny(), tile=64, out=tmp_path / "sr.tif")
    assert list(tmp_path.iterdir()) == []

    def full(self, region, data):
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr(OmeZarrWriter, "_write", full)
    with pytest.raises(InputError, match="File too large.*run the same job again to resume"):
        predict(image, tiny(), tile=64, out=tmp_path / "sr.ome.zarr")


def test_cancel_in_memory_keeps_the_planes_finished(image):
    """A cancelled time-lapse in memory hands over its first finished frames, each exactly as
    the whole run makes it; progress counts the frames as well as the tiles."""
    movie = np.stack([np.roll(image[:64, :64], 7 * k, axis=1) for k in range(5)])
    net = tiny()
    whole = run_to_end(iter_predict(movie, net, tile=32, num_workers=1))
    seen = []

    def stop():
        return bool(seen) and seen[-1].planes_done >= 2

    with pytest.raises(Cancelled) as stopped:
        for update in iter_predict(movie, net, tile=32, num_workers=1, stop=stop):
            seen.append(update)
    assert seen[0].planes == 5 and "of 5 planes done" in seen[-1].message
    kept = stopped.value.partial
    assert kept.of == 5 and kept.axis == 0 and 2 <= kept.planes < 5
    np.testing.assert_array_equal(kept.data, whole[: kept.planes])
    # a single plane has nothing to keep apart, and says nothing of planes
    one = list(iter_predict(image[:64, :64], net, tile=32, num_workers=1))
    assert one[-1].planes == 1 and "planes" not in one[-1].message


def test_plane_tally_counts_the_prefix_along_the_first_axis():
    from napari_sisr.core.inference.planes import PlaneTally

    order = [((t, z), b) for t in range(3) for z in range(2) for b in range(2)]
    tally = PlaneTally(order)
    assert (tally.planes, tally.extent, tally.prefix()) == (6, 3, 0)
    tally.add([4, 5, 6, 7])  # t = 1 complete before t = 0
    assert tally.complete == 2 and tally.prefix() == 0
    tally.add([0, 1, 2])  # t = 0, z = 1 still misses a block
    assert tally.complete == 3 and tally.prefix() == 0
    tally.add([3])
    assert tally.prefix() == 2 and "4 of 6 planes done" in tally.says()
    assert PlaneTally([((), 0)]).says() == ""


def test_waves_hold_whole_planes_in_order():
    from napari_sisr.core.inference.planes import in_waves

    leads = [(t,) for t in range(6) for _ in range(2)]
    assert in_waves(list(range(12)), leads, 3) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert in_waves(list(range(12)), leads, 100) == [list(range(12))]
    assert in_waves([], [], 4) == []
