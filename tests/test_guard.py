"""One door in, one door out: hostile files, planted links, numbers that wrap, API inputs.

Each class of the hostile-user review has its own tests here, beside the property-based fuzzing
of ``test_fuzz.py``: files that are not regular, sizes declared beyond the data, decoder and
parser errors, writes through planted links, outputs that are inputs, run folders holding the
user's files, integer outputs near their dtype's limits, non-finite weights and parameters,
and Python calls with things that are not images.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest
import tifffile
import torch
from conftest import tiny_generator as tiny
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_sisr import DegradationParams, predict, simulate_lr
from napari_sisr.core.errors import InputError, is_expected
from napari_sisr.core.io import guard
from napari_sisr.core.io.images import read_image, write_image
from napari_sisr.core.modelio import load_model, save_model

OPTS = dict(engine="torch", precision="fp32", tile=32)


# ----------------------------------------------------------------------------- reading


def test_a_fifo_is_refused_before_it_is_opened(tmp_path):
    fifo = tmp_path / "pipe.tif"
    os.mkfifo(fifo)
    for call in (
        lambda: read_image(fifo),
        lambda: predict(str(fifo), tiny(), **OPTS),
        lambda: DegradationParams.load(fifo),
        lambda: load_model(fifo),
        lambda: guard.load_json(fifo, "settings"),
    ):
        with pytest.raises(InputError, match="not a regular file|not found"):
            call()


def test_weights_linked_to_a_device_are_refused(tmp_path):
    save_model(tmp_path / "m", tiny(), {})
    (tmp_path / "m.safetensors").unlink()
    (tmp_path / "m.safetensors").symlink_to("/dev/zero")
    with pytest.raises(InputError, match="not a regular file"):
        load_model(tmp_path / "m.json")


def test_sizes_declared_beyond_the_memory_budget_are_refused_before_allocation(
    tmp_path, monkeypatch
):
    import zarr

    big = zarr.create_array(str(tmp_path / "big.zarr"), shape=(100_000, 100_000),
                            chunks=(1024, 1024), dtype="uint16", fill_value=3)  # fmt: skip
    assert big.nbytes > 10 * 2**30  # declared, never written
    with pytest.raises(InputError, match="declares 100000 x 100000"):
        read_image(tmp_path / "big.zarr")
    monkeypatch.setattr(guard, "memory_budget", lambda: 1000)  # a small machine
    tifffile.imwrite(tmp_path / "t.tif", np.zeros((40, 40), np.uint16))
    with pytest.raises(InputError, match="declares 40 x 40"):
        read_image(tmp_path / "t.tif")
    # predict keeps streaming what it can stream, but never builds a result it cannot hold
    with pytest.raises(InputError, match="OME-Zarr"):
        predict(np.zeros((40, 40), np.float32), tiny(), out=tmp_path / "o.tif", **OPTS)


def test_decoder_errors_name_the_file(tmp_path):
    good = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    tifffile.imwrite(tmp_path / "whole.tif", good, tile=(32, 32), compression="zlib")
    data = (tmp_path / "whole.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    (tmp_path / "head.tif").write_bytes(data[:8])
    for name in ("cut.tif", "head.tif"):
        with pytest.raises(InputError, match=name):
            np.asarray(predict(str(tmp_path / name), tiny(), **OPTS))
    import zarr

    z = zarr.create_array(str(tmp_path / "z.zarr"), shape=(64, 64), chunks=(32, 32),
                          dtype="float32")  # fmt: skip
    z[:] = good
    chunk = next(p for p in sorted((tmp_path / "z.zarr").rglob("c/*/*")) if p.is_file())
    chunk.write_bytes(os.urandom(40))
    with pytest.raises(InputError, match="z.zarr"):
        np.asarray(predict(str(tmp_path / "z.zarr"), tiny(), **OPTS))
    (tmp_path / "file.zarr").write_text("a file")
    with pytest.raises(InputError, match="is a file, not a zarr store"):
        predict(str(tmp_path / "file.zarr"), tiny(), **OPTS)


def test_an_ome_zarr_dataset_path_may_not_leave_the_store(tmp_path, nuclei):
    out = tmp_path / "o.ome.zarr"
    predict(nuclei[:64, :64], tiny(), out=out, **OPTS)
    attrs = json.loads((out / ".zattrs").read_text())
    attrs["multiscales"][0]["datasets"][0]["path"] = "../elsewhere"
    (out / ".zattrs").write_text(json.dumps(attrs))
    with pytest.raises(InputError, match="leaves the store"):
        predict(str(out), tiny(), **OPTS)


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, "{not json", "\udcff"])
def test_json_that_cannot_be_ours_is_named(tmp_path, text):
    path = tmp_path / "d.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(InputError, match="d.json"):
        DegradationParams.load(path)


def _package(tmp_path, damage) -> str:
    save_model(tmp_path / "m", tiny(), {})
    pkg = tmp_path / "p.zip"
    with zipfile.ZipFile(pkg, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("rdf.yaml", "type: model\n")
        z.write(tmp_path / "m.json", "model.json")
        z.write(tmp_path / "m.safetensors", "model.safetensors")
    raw = bytearray(pkg.read_bytes())
    damage(raw)
    pkg.write_bytes(bytes(raw))
    return str(pkg)


def _bad_crc(raw: bytearray) -> None:
    at = raw.find(b"model.safetensors") + len("model.safetensors") + 30
    raw[at] ^= 0xFF


def _unknown_method(raw: bytearray) -> None:
    for sig, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (at := raw.find(sig, start)) >= 0:
            raw[at + offset] = 99
            start = at + 4


@pytest.mark.parametrize("damage", [_bad_crc, _unknown_method, lambda raw: raw.__delitem__(
    slice(len(raw) // 2, None))], ids=["bad CRC", "unknown method", "truncated"])  # fmt: skip
def test_damaged_packages_are_named(tmp_path, damage, private_cache):
    pkg = _package(tmp_path, damage)
    with pytest.raises(InputError, match="p.zip"):
        load_model(pkg)


def test_a_zip_member_declaring_gigabytes_is_not_inflated(tmp_path, monkeypatch, private_cache):
    monkeypatch.setattr(guard, "MAX_ZIP_MEMBER", 1000)
    pkg = _package(tmp_path, lambda raw: None)
    with pytest.raises(InputError, match="inflates"):
        load_model(pkg)


# ----------------------------------------------------------------------------- writing


def test_a_link_planted_at_a_temporary_name_is_never_written_through(tmp_path, nuclei):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in (".o.tif.partial", ".o.png.partial", ".m.safetensors.partial"):
        (tmp_path / name).symlink_to(victim)
    predict(nuclei[:40, :40], tiny(), out=tmp_path / "o.tif", **OPTS)
    write_image(tmp_path / "o.png", np.zeros((8, 8), np.uint8))
    save_model(tmp_path / "m", tiny(), {})
    assert victim.read_text() == "precious"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert sorted(leftovers) == [".m.safetensors.partial", ".o.png.partial", ".o.tif.partial"]


def test_model_names_keep_their_dots(tmp_path):
    save_model(tmp_path / "exp", tiny(2), {"note": "two"})
    before = (tmp_path / "exp.json").read_text()
    save_model(tmp_path / "exp.v2", tiny(4), {})
    assert (tmp_path / "exp.json").read_text() == before
    assert load_model(tmp_path / "exp.v2.json").scale == 4
    assert load_model(tmp_path / "exp.v2").scale == 4
    assert load_model(tmp_path / "exp.json").scale == 2
    save_model(tmp_path / "model.best", tiny(2), {})
    assert load_model(tmp_path / "model.best.json").scale == 2


def test_an_output_is_never_an_input_however_spelt(tmp_path, nuclei):
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, nuclei[:40, :40])
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.tif").symlink_to(src)
    for out in (src, tmp_path / "sub" / ".." / "in.tif", tmp_path / "link.tif"):
        with pytest.raises(InputError, match="is the input"):
            predict(str(src), tiny(), out=out, overwrite=True, **OPTS)
    assert np.array_equal(tifffile.imread(src), nuclei[:40, :40])


def test_a_run_folder_of_the_users_files_is_refused(tmp_path, actin, one_torch_thread):
    from napari_sisr import TrainConfig, train

    out = tmp_path / "mine"
    out.mkdir()
    (out / "model.json").write_text("my own notes")
    (out / "cells.tif").write_text("my data")
    config = dict(
        hr=[actin[:96, :96]], scale=2, patch=32, batch=2, iters=1, val_every=1,
        arch_overrides={"n_blocks": 1, "nf": 8}, adversarial=False, init=None,
    )  # fmt: skip
    with pytest.raises(InputError, match="files a run did not write"):
        train(TrainConfig(out=out, **config))
    assert (out / "model.json").read_text() == "my own notes"
    with pytest.raises(ValueError, match="empty"):
        TrainConfig(out="", **config)
    train(TrainConfig(out=tmp_path / "run", **config))  # a new folder: fine, and marked
    assert (tmp_path / "run" / ".napari-sisr-run").is_file()


def test_two_jobs_in_one_run_folder_are_refused(tmp_path):
    from napari_sisr.core.io.omezarr import StoreLock

    held = StoreLock(tmp_path / "run").acquire()
    try:
        with pytest.raises(InputError, match="another job"):
            StoreLock(tmp_path / "run").acquire()
    finally:
        held.release()


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("dtype", ["int32", "uint32", "int64", "uint64", "int16", "uint8"])
def test_integer_outputs_saturate_instead_of_wrapping(dtype):
    from napari_sisr.core.io.dtypes import cast_to

    info = np.iinfo(dtype)
    img = np.full((24, 24), info.max, dtype)
    img[:, :12] = info.max - info.max // 4
    out = np.asarray(predict(img, tiny(), **OPTS))
    assert out.dtype == img.dtype and out.min() >= info.max // 2, (out.min(), out.max())
    y = np.array([info.max + 10.0, info.min - 10.0, np.nan], np.float64)
    assert list(cast_to(y[:2], dtype)) == [info.max if info.max < 2**53 else cast_to(
        y[:1], dtype)[0], info.min]  # fmt: skip


def test_subnormal_images_keep_their_contrast():
    img = np.random.default_rng(0).random((32, 32)) * 1e-310
    out = np.asarray(predict(img, tiny(), **OPTS))
    assert np.isfinite(out).all() and np.ptp(out) > 0


CHANGES = {"nan": lambda t: t * float("nan"), "inf": lambda t: t * float("inf"),
           "int8": lambda t: t.to(torch.int8)}  # fmt: skip


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_weights_that_cannot_compute_are_refused_at_load(tmp_path, change):
    from safetensors.torch import load_file, save_file

    from napari_sisr.core.modelio import file_digest

    save_model(tmp_path / "m", tiny(), {})
    state = load_file(str(tmp_path / "m.safetensors"))
    save_file({k: change(v) for k, v in state.items()}, str(tmp_path / "m.safetensors"))
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["weights_sha256"] = file_digest(tmp_path / "m.safetensors")
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="NaN or infinite|not as floating point"):
        load_model(tmp_path / "m.json")


def test_a_network_whose_output_overflows_is_stopped(nuclei):
    net = tiny()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1e30)  # finite weights, an infinite output
    with pytest.raises(InputError, match="non-finite"):
        np.asarray(predict(nuclei[:32, :32], net, **OPTS))


@pytest.mark.parametrize(
    "fields",
    [{"noise_var": 1e300}, {"gain": 1e39}, {"offset": 1e39}, {"poisson_a": 1e30},
     {"gain": float("inf")}],
)  # fmt: skip
def test_degradation_values_that_cannot_give_a_finite_capture_are_refused(fields, tmp_path):
    with pytest.raises(ValueError) as err:
        DegradationParams(scale=2, **fields)
    assert is_expected(err.value)
    (tmp_path / "d.json").write_text(json.dumps({"scale": 2, **fields}))
    with pytest.raises(InputError, match="d.json"):  # the same bound, from a file
        DegradationParams.load(tmp_path / "d.json")


def test_a_capture_past_float32_is_refused():
    with pytest.raises(InputError, match="float32"):
        simulate_lr(np.full((16, 16), 1e30), DegradationParams(scale=2, gain=1e10))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"na": 0.01, "wavelength_nm": 520, "lr_pixel_um": 0.1}, "NA"),
     ({"na": 1.4, "wavelength_nm": 5000, "lr_pixel_um": 0.1}, "wavelength"),
     ({"na": 1.4, "wavelength_nm": 520, "lr_pixel_um": 60}, "PSF|pixel")],
)  # fmt: skip
def test_optics_outside_physics_are_refused(kwargs, match):
    from napari_sisr import sigma_from_optics

    with pytest.raises(InputError, match=match):
        sigma_from_optics(scale=4, **kwargs)


def test_evaluate_and_fit_bounds(pair_lr_hr=None):
    from napari_sisr import evaluate
    from napari_sisr.core.degradation.pairs import resample_hr

    lr, hr = np.zeros((16, 16)), np.zeros((32, 32))
    with pytest.raises(InputError, match="PSF width"):
        evaluate(lr, hr, 2, sigma=-1)
    with pytest.raises(InputError, match="iterations"):
        evaluate(lr, hr, 2, rl_iterations=100_000_000)
    with pytest.raises(InputError, match="HR px per LR px"):
        resample_hr(hr, 1e9, 4)


# ----------------------------------------------------------------------------- API inputs


@pytest.mark.parametrize(
    "image", [None, {"a": 1}, np.zeros(32, np.float32), np.zeros((8, 8), "datetime64[s]"),
              np.array([[object()]])],
    ids=["None", "dict", "1-D", "datetime", "object"],
)  # fmt: skip
def test_things_that_are_not_images_are_named(image):
    with pytest.raises(InputError):
        predict(image, tiny(), **OPTS)


def test_a_torch_tensor_is_an_image():
    out = np.asarray(predict(torch.rand(24, 24), tiny(), **OPTS))
    assert out.shape == (48, 48)


def test_simulate_lr_takes_fields_and_checks_its_rng():
    lr = simulate_lr(np.ones((16, 16)), scale=2, sigma=1.0)
    assert lr.shape == (8, 8)
    assert simulate_lr(np.ones((16, 16)), {"scale": 2}).shape == (8, 8)
    for bad in ({"rng": "abc"}, {"params": {"scale": "x"}}, {"params": 3}):
        with pytest.raises(InputError):
            simulate_lr(np.ones((16, 16)), **bad)
    with pytest.raises(InputError, match="not a path"):
        simulate_lr("hr.tif", scale=2)


# ----------------------------------------------------------------------------- fuzzing


FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip


@FUZZ
@given(data=st.data())
def test_mutated_files_give_an_image_or_a_named_error(tmp_path, data):
    """Random bytes flipped, cut or appended in TIFF, PNG, JSON and safetensors files: every
    reader answers with data or an input error, never another exception."""
    import imageio.v3 as iio

    kind = data.draw(st.sampled_from(["tif", "png", "json", "model"]))
    img = (np.random.default_rng(0).random((24, 24)) * 200).astype(np.uint8)
    path = tmp_path / f"f.{'json' if kind in ('json', 'model') else kind}"
    if kind == "tif":
        tifffile.imwrite(path, img, compression="zlib")
    elif kind == "png":
        iio.imwrite(path, img)
    elif kind == "json":
        DegradationParams(scale=2, sigma=1.2).save(path)
    else:
        save_model(tmp_path / "f", tiny(), {})
    raw = bytearray(path.read_bytes() if kind != "model" else
                    (tmp_path / "f.safetensors").read_bytes())  # fmt: skip
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "append"]))
        if op == "flip" and raw:
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del raw[data.draw(st.integers(0, len(raw))) :]
        else:
            raw += bytes(data.draw(st.binary(max_size=64)))
    target = path if kind != "model" else tmp_path / "f.safetensors"
    target.write_bytes(bytes(raw))
    if kind == "model":  # the JSON's digest would refuse any change: drop it
        meta = json.loads(path.read_text())
        meta.pop("weights_sha256", None)
        path.write_text(json.dumps(meta))
    readers = {
        "tif": lambda: read_image(path),
        "png": lambda: read_image(path),
        "json": lambda: DegradationParams.load(path),
        "model": lambda: load_model(path),
    }
    try:
        readers[kind]()
    except Exception as err:  # noqa: BLE001 - the property: only input errors escape
        assert is_expected(err), f"{kind}: {type(err).__name__}: {err}"


def test_layouts_that_tripped_the_ome_writer(tmp_path):
    """A two-channel YXC TIFF, a grey + alpha PNG and a plain 4-D TIFF all come back as
    OME-TIFF with distinct axis names (OME has one "Q" and keeps samples for colours)."""
    import imageio.v3 as iio

    tifffile.imwrite(tmp_path / "yxc.tif", np.ones((40, 40, 2), np.uint16),
                     photometric="minisblack", planarconfig="contig")  # fmt: skip
    iio.imwrite(tmp_path / "la.png", np.ones((40, 40, 2), np.uint8))
    tifffile.imwrite(tmp_path / "four.tif", np.ones((2, 3, 40, 40), np.uint16))
    for name, shape in (("yxc.tif", (80, 80, 2)), ("la.png", (80, 80, 2)),
                        ("four.tif", (2, 3, 80, 80))):  # fmt: skip
        out = tmp_path / f"{name}.ome.tif"
        got = predict(str(tmp_path / name), tiny(), out=out, **OPTS)
        assert got.shape == shape, name
        with tifffile.TiffFile(out) as tif:
            axes = tif.series[0].axes
        assert len(set(axes)) == len(axes), (name, axes)


# ----------------------------------------------------------------------------- found by the harness


def test_a_package_whose_rdf_is_not_a_model_is_named(tmp_path, private_cache):
    save_model(tmp_path / "m", tiny(), {})
    pkg = tmp_path / "p.zip"
    with zipfile.ZipFile(pkg, "w") as z:
        z.writestr("rdf.yaml", "- just\n- a list\n")
        z.write(tmp_path / "m.json", "model.json")
        z.write(tmp_path / "m.safetensors", "model.safetensors")
    with pytest.raises(InputError, match="does not describe a model"):
        load_model(pkg)


def test_a_full_disk_while_saving_weights_is_named(tmp_path, monkeypatch):
    import safetensors.torch
    from safetensors import SafetensorError

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: IoError(Os { code: 28, kind: "
                              "StorageFull, message: \"No space left on device\" })")  # fmt: skip

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    with pytest.raises(InputError, match="disk full"):
        save_model(tmp_path / "m", tiny(), {})
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


@pytest.mark.parametrize("size", [65.0, {"y": 0.1, "x": 65.0}])
def test_a_pixel_size_in_nanometres_is_named(size):
    with pytest.raises(ValueError, match="unit is micrometres") as err:
        predict(np.zeros((16, 16), np.float32), tiny(), pixel_size=size, **OPTS)
    assert is_expected(err.value)


def test_train_validation_names_the_flag(tmp_path, capsys):
    from napari_sisr.cli import main

    hr = tmp_path / "hr.tif"
    tifffile.imwrite(hr, np.zeros((64, 64), np.float32))
    code = main(["train", "--hr", str(hr), "--scale", "2", "--patch", "3", "-o",
                 str(tmp_path / "run")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "error: --patch: " in err


def test_a_json_written_to_a_full_disk_names_the_file(tmp_path, monkeypatch):
    """`fit -o` on a full disk said only "[Errno 27] File too large": the file is named."""
    import errno

    from napari_sisr.core.io import atomic

    def full(fd, *args, **kwargs):
        os.close(fd)
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr(atomic.os, "fdopen", full)
    with pytest.raises(InputError, match=r"could not write .*d\.json: File too large"):
        DegradationParams(scale=2).save(tmp_path / "d.json")
    assert not list(tmp_path.iterdir())


def test_an_engine_cache_that_cannot_be_written_is_named(tmp_path, monkeypatch):
    """A full disk while the ONNX graph is cached said "this model cannot be exported to
    ONNX": the cache file and the ways out are named."""
    import errno

    from napari_sisr.core.inference import cache

    monkeypatch.setenv("NAPARI_SISR_CACHE_DIR", str(tmp_path / "cache"))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch.onnx, "export", full)
    with pytest.raises(InputError, match=r"could not write .*\.onnx.*NAPARI_SISR_CACHE_DIR"):
        cache.export_onnx(tiny().eval(), (1, 16, 16), "k")
    assert not list((tmp_path / "cache").glob("*"))
