"""Hostile inputs, second pass: planted links, hangs, numbers that wrap, decoder errors.

The classes of the second hostile-user review, each with cases of its own (not only the ones
that review listed): redirected writes and data loss, hangs and memory, silently wrong results,
tracebacks, and messages that do not name the problem. A case is judged as in
``hostile_inputs.py``, with two more verdicts: **hang** (no answer within the time limit) and
**redirected write** (a file outside the output folder changed through a planted link).

    python benchmarks/hostile_second.py [-v] [--only CLASS]

Prints a table of verdicts per class; ``-v`` lists every case.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostile_inputs import PY, _digest, _limits, setup  # noqa: E402

TIMEOUT = 90  # s: a command that takes longer on these small files counts as a hang
KINDS = ["handled", "unclear message", "data loss", "redirected write", "hang", "memory",
         "silently wrong", "traceback"]  # fmt: skip


def _env(cwd: Path) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "NAPARI_SISR_CACHE_DIR": str(cwd / "cache")}


def cli(args, cwd: Path, fsize: int | None = None, timeout: int = TIMEOUT, env=None):
    """``napari-sisr ARGS``: (exit code, stderr); exit code ``None`` on a hang."""
    try:
        p = subprocess.run(
            [PY, "-m", "napari_sisr", *map(str, args)], cwd=cwd, env=env or _env(cwd),
            capture_output=True, text=True, timeout=timeout, preexec_fn=_limits(fsize),
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None, "timeout"
    return p.returncode, p.stderr


def py(code: str, cwd: Path, timeout: int = TIMEOUT):
    """Python ``code`` in a subprocess: (exit code, output); prints OK / USERERROR."""
    wrapper = (
        "import sys\nfrom napari_sisr.core.errors import is_expected\ntry:\n"
        + "".join(f"    {line}\n" for line in code.splitlines())
        + "    print('OK')\nexcept Exception as e:\n"
        "    if is_expected(e):\n        print('USERERROR', e); sys.exit(2)\n    raise\n"
    )
    try:
        p = subprocess.run(
            [PY, "-c", wrapper], cwd=cwd, env=_env(cwd), capture_output=True, text=True,
            timeout=timeout, preexec_fn=_limits(None),
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None, "timeout"
    return p.returncode, p.stdout + p.stderr


def verdict(rc, err: str, *, expect_ok: bool = False) -> str:
    if rc is None:
        return "hang"
    if rc in (-9, 137) or "MemoryError" in err or "out of memory" in err:
        return "memory"
    if rc == 1 or "Traceback" in err or "internal error" in err:
        return "traceback"
    if rc == 0 and not expect_ok:
        return "silently wrong"
    if rc not in (0, 2, 3, 130):
        return "traceback"
    return "handled"


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _victim(root: Path) -> Path:
    """A file outside the output folders that a planted link points at."""
    outside = root / "outside"
    outside.mkdir(exist_ok=True)
    victim = outside / "precious.txt"
    victim.write_text("the user's own data\n")
    return victim


def _plant(where: Path, victim: Path) -> None:
    where.parent.mkdir(parents=True, exist_ok=True)
    if where.is_symlink() or where.exists():
        where.unlink()
    where.symlink_to(victim)


def redirected_writes(root: Path, f: dict):
    """Class 1: data loss and writes redirected through planted links."""
    import tifffile

    hr, lr, model = f["hr"], f["lr"], f["model"]
    victim = _victim(root)
    before = victim.read_bytes()
    planted = [
        ("predict -o o.tif", ["predict", lr, "-o", root / "w1" / "o.tif", "--model", model, "-q"],
         root / "w1" / ".o.tif.partial"),
        ("predict -o o.png", ["predict", lr, "-o", root / "w2" / "o.png", "--model", model,
                              "-q"], root / "w2" / ".o.png.partial"),
        ("simulate -o s.tif", ["simulate", hr, "-o", root / "w3" / "s.tif", "--scale", "2"],
         root / "w3" / ".s.tif.partial"),
        ("export-bmz -o m.zip", ["export-bmz", model, "-o", root / "w4" / "m.zip"],
         root / "w4" / ".m.zip.partial"),
        ("folder predict", ["predict", root / "batch_in", "-o", root / "w5", "--model", model,
                            "-q"], root / "w5" / ".a.tif.partial"),
        ("OME-Zarr creation", ["predict", lr, "-o", root / "w6" / "o.ome.zarr", "--model", model,
                               "-q"], root / "w6" / ".o.ome.zarr.creating-0"),
    ]  # fmt: skip
    (root / "batch_in").mkdir(exist_ok=True)
    tifffile.imwrite(root / "batch_in" / "a.tif", np.asarray(tifffile.imread(lr))[:48, :48])
    for name, args, link in planted:
        _plant(link, victim)
        rc, err = cli(args, root)
        hit = victim.read_bytes() != before
        victim.write_bytes(before)
        yield "redirected writes", f"{name} with a link planted at its temporary", (
            "redirected write" if hit else verdict(rc, err, expect_ok=True))  # fmt: skip
    run = root / "w7"
    train = ["train", "--hr", hr, "--iters", "2", "--val-every", "1", "--patch", "32", "--batch",
             "2", "--arch-option", "n_blocks=1", "--arch-option", "nf=8", "--no-gan",
             "-q"]  # fmt: skip
    for suffix in (".safetensors", ".json"):
        _plant(run / f".model{suffix}.partial", victim)
    rc, err = cli([*train, "--out", run], root)
    hit = victim.read_bytes() != before
    victim.write_bytes(before)
    yield "redirected writes", "train publish with links at .model.*.partial", (
        "redirected write" if hit else verdict(rc, err, expect_ok=True))  # fmt: skip
    # save_model with a dotted name beside another model
    code = (
        "import torch, json\nfrom napari_sisr.core.modelio import save_model, load_model\n"
        "from napari_sisr.core.archs import build_generator\n"
        "save_model('exp', build_generator('srresnet','fast',2,1,n_blocks=1,nf=8), {'name': 'a'})\n"
        "before = open('exp.json').read()\n"
        "save_model('exp.v2', build_generator('srresnet','fast',4,1,n_blocks=1,nf=8), {})\n"
        "import os\nassert open('exp.json').read() == before, 'exp.json replaced'\n"
        "assert os.path.exists('exp.v2.json') and os.path.exists('exp.v2.safetensors')\n"
        "assert load_model('exp.v2.json').scale == 4 and load_model('exp.json').scale == 2\n"
        "assert load_model('exp.v2').scale == 4\n"
    )
    rc, out = py(code, root)
    lost = "exp.json replaced" in out
    yield "redirected writes", "save_model('exp.v2') beside exp.json", (
        "data loss" if lost else verdict(rc, out, expect_ok=True))  # fmt: skip
    code = (
        "from napari_sisr.core.modelio import save_model, load_model\n"
        "from napari_sisr.core.archs import build_generator\n"
        "save_model('model.best', build_generator('srresnet','fast',2,1,n_blocks=1,nf=8), {})\n"
        "assert load_model('model.best.json').scale == 2\n"
    )
    rc, out = py(code, root)
    yield (
        "redirected writes",
        "a model named model.best.json loads",
        verdict(rc, out, expect_ok=True),
    )
    # output equal to an input, however spelt
    sub = root / "sub"
    sub.mkdir(exist_ok=True)
    for label, args, target in (
        ("simulate hr.tif -o hr.tif", ["simulate", "hr.tif", "-o", "hr.tif", "--overwrite"], hr),
        ("simulate -o ./sub/../hr.tif", ["simulate", "hr.tif", "-o", "./sub/../hr.tif",
                                         "--overwrite"], hr),
        ("simulate -o a link to hr.tif", ["simulate", "hr.tif", "-o", "hr_link.tif",
                                          "--overwrite"], hr),
        ("predict lr.tif -o lr.tif", ["predict", "lr.tif", "-o", "lr.tif", "--overwrite",
                                      "--model", model, "-q"], lr),
        ("predict -o ./sub/../lr.tif", ["predict", "lr.tif", "-o", "./sub/../lr.tif",
                                        "--overwrite", "--model", model, "-q"], lr),
        ("fit -o hr.tif", ["fit", "hr.tif", "lr.tif", "--scale", "4", "-o", "hr.tif",
                           "--force", "-q"], hr),
        ("noise -o lr.tif", ["noise", "lr.tif", "--scale", "4", "-o", "lr.tif", "--overwrite"],
         lr),
        ("tune -o lr.tif", ["tune", "aware-2x", "lr.tif", "hr.tif", "--scale", "2", "-o",
                            "lr.tif", "--overwrite", "-q"], lr),
        ("export-bmz -o a path beside its model", ["export-bmz", model, "-o", str(model) + ".zip",
                                         "--overwrite"], None),
    ):  # fmt: skip
        if label.endswith("a link to hr.tif"):
            link = root / "hr_link.tif"
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(hr)
        keep = root / "keep_copy"
        if target is not None:
            shutil.copyfile(target, keep)
        rc, err = cli(args, root)
        lost = target is not None and _digest(target) != _digest(keep)
        if lost:
            shutil.copyfile(keep, target)
        ok = target is None  # a path that is no input: writing it is right
        yield "redirected writes", label, "data loss" if lost else verdict(rc, err, expect_ok=ok)
    # train --out over the user's own files
    for label, files in (
        ("a folder with the user's model.json, config.json, log.jsonl",
         {"model.json": "{}", "config.json": "{}", "log.jsonl": "mine\n"}),
        ("an old run whose checkpoints were deleted",
         {"model.json": "{}", "model.safetensors": "x", "log.jsonl": "{}\n"}),
        ("a folder of the user's images", {"cells.tif": "tiff bytes"}),
    ):  # fmt: skip
        out = root / f"run_{abs(hash(label)) % 10**6}"
        out.mkdir()
        for name, text in files.items():
            (out / name).write_text(text)
        snap = {n: (out / n).read_text() for n in files}
        rc, err = cli([*train, "--out", out], root)
        lost = any(not (out / n).exists() or (out / n).read_text() != t for n, t in snap.items())
        yield "redirected writes", f"train --out {label}", "data loss" if lost else verdict(rc, err)


def hangs_and_memory(root: Path, f: dict):
    """Class 2: non-regular files, sizes declared far beyond the data, unbounded work."""
    import tifffile
    import zarr

    hr, lr, model = f["hr"], f["lr"], f["model"]
    fifo = _fifo(root / "pipe.tif")
    for label, args in (
        ("predict FIFO", ["predict", fifo, "-o", root / "o.tif", "--model", model]),
        ("fit FIFO", ["fit", fifo, lr, "--scale", "4", "-o", root / "f.json", "--force"]),
        ("noise FIFO", ["noise", fifo, "--scale", "4"]),
        ("simulate FIFO", ["simulate", fifo, "-o", root / "s.tif", "--overwrite"]),
        ("evaluate FIFO", ["evaluate", model, fifo, hr, "--scale", "2"]),
        ("train --hr FIFO", ["train", "--hr", fifo, "--iters", "2", "--out", root / "rf"]),
    ):  # fmt: skip
        rc, err = cli(args, root, timeout=30)
        yield "hangs and memory", label, verdict(rc, err)
    jfifo = _fifo(root / "pipe.json")
    for label, args in (
        ("degradation JSON FIFO", ["predict", lr, "-o", root / "o.tif", "--overwrite",
                                   "--model", "aware-2x", "--degradation", jfifo]),
        ("model JSON FIFO", ["predict", lr, "-o", root / "o.tif", "--overwrite", "--model",
                             jfifo]),
        ("train --degradation FIFO", ["train", "--hr", hr, "--degradation", jfifo, "--out",
                                      root / "rg"]),
    ):  # fmt: skip
        rc, err = cli(args, root, timeout=30)
        yield "hangs and memory", label, verdict(rc, err)
    (root / "zero.json").write_text((root / "m.json").read_text())
    zlink = root / "zero.safetensors"
    if not zlink.exists():
        zlink.symlink_to("/dev/zero")
    rc, err = cli(["predict", lr, "-o", root / "o.tif", "--overwrite", "--model",
                   root / "zero.json"], root, timeout=30)  # fmt: skip
    yield "hangs and memory", "model weights linked to /dev/zero", verdict(rc, err)
    # sizes declared far beyond the data
    big = root / "declared.zarr"
    zarr.create_array(str(big), shape=(100_000, 100_000), chunks=(1024, 1024), dtype="uint16",
                      fill_value=7)  # fmt: skip
    for label, args in (
        ("fit on a Zarr declaring 100000^2 px", ["fit", big, lr, "--scale", "4", "-o",
                                                 root / "f.json", "--force"]),
        ("noise on a Zarr declaring 100000^2 px", ["noise", big, "--scale", "4"]),
        ("predict to TIFF from a Zarr declaring 100000^2 px", ["predict", big, "-o",
                                                               root / "h.tif", "--model", model]),
        ("simulate a Zarr declaring 100000^2 px", ["simulate", big, "-o", root / "h2.tif"]),
    ):  # fmt: skip
        rc, err = cli(args, root, timeout=60)
        yield "hangs and memory", label, verdict(rc, err)
    small = root / "small.tif"
    tifffile.imwrite(small, np.zeros((64, 64), np.uint8))
    raw = bytearray(small.read_bytes())
    patched = _patch_tiff_size(raw, 100_000)
    (root / "declared.tif").write_bytes(patched)
    for label, args in (
        ("predict a TIFF declaring 100000^2 px", ["predict", root / "declared.tif", "-o",
                                                  root / "h3.tif", "--model", model]),
        ("fit on a TIFF declaring 100000^2 px", ["fit", root / "declared.tif", lr, "--scale",
                                                 "4", "-o", root / "f2.json", "--force"]),
    ):  # fmt: skip
        rc, err = cli(args, root, timeout=60)
        yield "hangs and memory", label, verdict(rc, err)
    bomb = root / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("rdf.yaml", "type: model\nformat_version: 0.5.3\n")
        z.writestr("model.json", (root / "m.json").read_text())
        with z.open("model.safetensors", "w", force_zip64=True) as fh:
            block = bytes(1 << 24)
            for _ in range(220):  # 3.4 GiB of zeros, a few MB compressed
                fh.write(block)
    rc, err = cli(["predict", lr, "-o", root / "o.tif", "--overwrite", "--model", bomb], root,
                  timeout=120)  # fmt: skip
    yield "hangs and memory", "zip member inflating to 3.4 GiB", verdict(rc, err)
    for label, args in (
        ("evaluate --rl-iterations 100000000", ["evaluate", model, lr, hr, "--scale", "2",
                                                "--rl-iterations", "100000000"]),
        ("fit --hr-ratio 1e9", ["fit", hr, lr, "--hr-ratio", "1e9", "-o", root / "f3.json",
                                "--force"]),
        ("train --iters 10^12 --val-every 10^12", ["train", "--hr", hr, "--iters", str(10**12),
                                                   "--patch", "1000000", "--out", root / "rh"]),
        ("predict --tile 10^9", ["predict", lr, "-o", root / "o.tif", "--overwrite", "--model",
                                 model, "--tile", str(10**9)]),
        ("predict --batch 10^9", ["predict", lr, "-o", root / "o.tif", "--overwrite", "--model",
                                  model, "--batch", str(10**9)]),
        ("simulate --scale 10^6", ["simulate", hr, "-o", root / "s2.tif", "--scale",
                                   str(10**6)]),
    ):  # fmt: skip
        rc, err = cli(args, root, timeout=60)
        yield "hangs and memory", label, verdict(rc, err)
    deep = "[" * 100_000 + "]" * 100_000
    (root / "deep.json").write_text(deep)
    rc, err = cli(["predict", lr, "-o", root / "o.tif", "--overwrite", "--model", "aware-2x",
                   "--degradation", root / "deep.json"], root)  # fmt: skip
    yield "hangs and memory", "degradation JSON nested 100000 deep", verdict(rc, err)


def _patch_tiff_size(raw: bytearray, n: int) -> bytes:
    """A little-endian classic TIFF with its ImageWidth / ImageLength tags set to ``n``."""
    import struct

    (ifd,) = struct.unpack_from("<I", raw, 4)
    (count,) = struct.unpack_from("<H", raw, ifd)
    for i in range(count):
        at = ifd + 2 + 12 * i
        tag, typ, cnt = struct.unpack_from("<HHI", raw, at)
        if tag in (256, 257):
            if typ == 3:
                struct.pack_into("<HHIH", raw, at, tag, 4, cnt, 0)
            struct.pack_into("<HHII", raw, at, tag, 4, cnt, n)
    return bytes(raw)


def silently_wrong(root: Path, f: dict):
    """Class 3: exit 0 with wrapped, non-finite or constant results, or bounds accepted."""
    import tifffile
    import torch

    hr, lr, model = f["hr"], f["lr"], f["model"]
    for dtype in ("int32", "uint32", "int64", "uint64", "int16", "uint16", "uint8", "int8"):
        info = np.iinfo(dtype)
        img = np.full((48, 48), info.max, dtype)
        img[:, :24] = info.max - info.max // 4
        src = root / f"near_max_{dtype}.tif"
        tifffile.imwrite(src, img)
        out = root / f"near_max_{dtype}_sr.tif"
        rc, err = cli(["predict", src, "-o", out, "--model", model, "--overwrite", "-q"], root)
        if rc == 0:
            got = tifffile.imread(out)
            wrapped = got.dtype != img.dtype or got.min() < info.max // 2
            yield "silently wrong", f"{dtype} near its maximum", (
                "silently wrong" if wrapped else "handled")  # fmt: skip
        else:
            yield "silently wrong", f"{dtype} near its maximum", verdict(rc, err)
    sub = root / "subnormal.tif"
    tifffile.imwrite(sub, (np.random.default_rng(0).random((48, 48)) * 1e-310).astype(np.float64))
    rc, err = cli(["predict", sub, "-o", root / "sub_sr.tif", "--model", model, "--overwrite",
                   "-q"], root)  # fmt: skip
    ok = rc == 0 and np.isfinite(tifffile.imread(root / "sub_sr.tif")).all()
    v = "handled" if ok or rc == 2 else "silently wrong" if rc == 0 else verdict(rc, err)
    yield "silently wrong", "float64 image of subnormal values", v
    from safetensors.torch import load_file, save_file

    from napari_sisr.core.modelio import file_digest

    state = load_file(str(root / "m.safetensors"))
    for label, change in (
        ("NaN", lambda t: t * float("nan")),
        ("+inf", lambda t: t * float("inf")),
        ("scaled by 1e30", lambda t: t * 1e30),
        ("stored as int8", lambda t: t.to(torch.int8)),
    ):
        name = f"w_{abs(hash(label)) % 10**6}"
        save_file({k: change(v) for k, v in state.items()}, str(root / f"{name}.safetensors"))
        meta = json.loads((root / "m.json").read_text())
        meta["weights_sha256"] = file_digest(root / f"{name}.safetensors")
        (root / f"{name}.json").write_text(json.dumps(meta))
        out = root / f"{name}_sr.tif"
        rc, err = cli(["predict", lr, "-o", out, "--model", root / f"{name}.json", "--overwrite",
                       "--dtype", "float32", "-q"], root)  # fmt: skip
        if rc == 0:
            got = tifffile.imread(out)
            bad = not np.isfinite(got).all() or np.ptp(got) == 0
            yield "silently wrong", f"weights {label}", "silently wrong" if bad else "handled"
        else:
            yield "silently wrong", f"weights {label}", verdict(rc, err)
    for opt in (["--noise-var", "1e300"], ["--gain", "1e39"], ["--offset", "1e39"],
                ["--gain", "-1e39"], ["--sigma", "1e30"], ["--noise-var", "-1"]):  # fmt: skip
        out = root / "s.tif"
        rc, err = cli(["simulate", hr, "-o", out, "--overwrite", *opt], root)
        if rc == 0:
            finite = np.isfinite(tifffile.imread(out)).all()
            yield "silently wrong", f"simulate {' '.join(opt)}", (
                "handled" if finite else "silently wrong")  # fmt: skip
        else:
            yield "silently wrong", f"simulate {' '.join(opt)}", verdict(rc, err)
    for key, value in (("gain", 1e39), ("noise_var", 1e300), ("offset", -1e39)):
        deg = {"scale": 4, "sigma": 2.0, key: value}
        (root / "deg.json").write_text(json.dumps(deg))
        rc, err = cli(["simulate", hr, "-o", root / "s.tif", "--overwrite", "--degradation",
                       root / "deg.json"], root)  # fmt: skip
        ok = rc == 0 and np.isfinite(tifffile.imread(root / "s.tif")).all()
        yield "silently wrong", f"simulate with a JSON {key} of {value:g}", (
            "handled" if ok else verdict(rc, err))  # fmt: skip
    for label, args in (
        ("--optics NA=0.01,wavelength=5000,pixel=0.001",
         ["predict", lr, "-o", root / "o.tif", "--overwrite", "--model", "aware-2x", "--optics",
          "NA=0.01,wavelength=5000,pixel=0.001", "-q"]),
        ("--optics NA=1.4,wavelength=10,pixel=65",
         ["predict", lr, "-o", root / "o.tif", "--overwrite", "--model", "aware-2x", "--optics",
          "NA=1.4,wavelength=10,pixel=65", "-q"]),
        ("evaluate --sigma -1", ["evaluate", model, lr, hr, "--scale", "2", "--sigma", "-1"]),
        ("evaluate --rl-iterations -1", ["evaluate", model, lr, hr, "--scale", "2",
                                         "--rl-iterations", "-1"]),
        ("train --out ''", ["train", "--hr", hr, "--iters", "1", "--out", ""]),
        ("predict --pixel-size 1e30", ["predict", lr, "-o", root / "o.tif", "--overwrite",
                                       "--model", model, "--pixel-size", "1e30", "-q"]),
        ("noise --pixel-size 60 (nm typed as um)", ["noise", lr, "--scale", "4",
                                                    "--pixel-size", "60"]),
    ):  # fmt: skip
        rc, err = cli(args, root)
        yield "silently wrong", label, verdict(rc, err)
    jpg = root / "full.jpg"
    rc, err = cli(["predict", lr, "-o", jpg, "--model", model, "--dtype", "uint8", "-q",
                   "--overwrite"], root, fsize=2048)  # fmt: skip
    yield "silently wrong", "JPEG output on a full disk", (
        "silently wrong" if rc == 0 else verdict(rc, err))  # fmt: skip
    for label, extra in (("two trains into one run folder", []),
                         ("two resumes of one run", ["--resume"])):  # fmt: skip
        run = root / f"twice_{len(extra)}"
        base = ["train", "--hr", hr, "--iters", "30", "--patch", "32", "--batch", "2",
                "--checkpoint-every", "5", "--no-gan", "--arch-option", "n_blocks=1",
                "--arch-option", "nf=8", "-q", "--out", run]  # fmt: skip
        if extra:
            cli([*base[:3], "--iters", "10", *base[5:]], root)
        procs = [subprocess.Popen([PY, "-m", "napari_sisr", *map(str, base + extra)], cwd=root,
                                  env=_env(root), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
        codes = [p.wait(timeout=300) for p in procs]
        both = codes == [0, 0]
        yield "silently wrong", label, "silently wrong" if both else "handled"


def tracebacks(root: Path, f: dict):
    """Class 4: decoder, parser and type errors that escape as internal errors."""
    import tifffile
    import zarr

    hr, lr, model = f["hr"], f["lr"], f["model"]
    good = np.asarray(tifffile.imread(lr))
    tifffile.imwrite(root / "whole.tif", good, tile=(32, 32), compression="zlib")
    data = (root / "whole.tif").read_bytes()
    (root / "truncated.tif").write_bytes(data[: len(data) // 2])
    (root / "header_only.tif").write_bytes(data[:8])
    (root / "garbage.tif").write_bytes(b"II*\x00" + os.urandom(400))
    for name in ("truncated.tif", "header_only.tif", "garbage.tif"):
        for cmd in (["predict", root / name, "-o", root / "o.tif", "--overwrite", "--model",
                     model, "-q"],
                    ["fit", hr, root / name, "--scale", "4", "-o", root / "f.json", "--force"],
                    ["noise", root / name, "--scale", "4"]):  # fmt: skip
            rc, err = cli(cmd, root)
            yield "tracebacks", f"{cmd[0]} on a {name.split('.')[0].replace('_', ' ')} TIFF", (
                verdict(rc, err))  # fmt: skip
    batch = root / "batch_bad"
    batch.mkdir(exist_ok=True)
    tifffile.imwrite(batch / "a.tif", good[:48, :48])
    shutil.copyfile(root / "truncated.tif", batch / "b.tif")
    tifffile.imwrite(batch / "c.tif", good[:48, :48])
    rc, err = cli(["predict", batch, "-o", root / "batch_bad_out", "--model", model, "-q"], root)
    done = sorted(p.name for p in (root / "batch_bad_out").glob("*")) if rc is not None else []
    yield "tracebacks", "a folder batch with one truncated file", (
        "handled" if rc == 2 and len(done) == 2 else verdict(rc, err))  # fmt: skip
    # Zarr stores
    z = root / "store.zarr"
    arr = zarr.create_array(str(z), shape=(64, 64), chunks=(32, 32), dtype="float32")
    arr[:] = good[:64, :64]
    for label, damage in (
        ("a Zarr chunk cut short", lambda c: c.write_bytes(c.read_bytes()[:10])),
        ("a Zarr chunk that fails to decompress", lambda c: c.write_bytes(os.urandom(64))),
        ("a malformed zarr.json", lambda c: (z / "zarr.json").write_text("{not json")),
        ("a zarr.json of the wrong shape", lambda c: (z / "zarr.json").write_text("[1, 2]")),
    ):
        shutil.rmtree(z)
        arr = zarr.create_array(str(z), shape=(64, 64), chunks=(32, 32), dtype="float32")
        arr[:] = good[:64, :64]
        damage(next(p for p in sorted(z.rglob("c/*/*")) if p.is_file()))
        rc, err = cli(["predict", z, "-o", root / "o.tif", "--overwrite", "--model", model,
                       "-q"], root)  # fmt: skip
        yield "tracebacks", label, verdict(rc, err)
    (root / "file.zarr").write_text("not a folder")
    rc, err = cli(["predict", root / "file.zarr", "-o", root / "o.tif", "--overwrite", "--model",
                   model], root)  # fmt: skip
    yield "tracebacks", "a .zarr path that is a file", verdict(rc, err)
    ome = root / "ome.zarr"
    rc, err = cli(["predict", hr, "-o", ome, "--model", model, "-q"], root)  # two levels
    for label, change in (
        ("a missing pyramid level", lambda ms: shutil.rmtree(ome / ms["datasets"][1]["path"])),
        ("a dataset path with ..", lambda ms: ms["datasets"][0].update(path="../outside")),
        ("an absolute dataset path", lambda ms: ms["datasets"][0].update(path="/etc")),
    ):
        if not ome.is_dir():  # the store to damage could not even be written
            yield "tracebacks", f"an OME-Zarr with {label}", verdict(rc, err)
            continue
        work = root / "ome_work.zarr"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(ome, work)
        meta_path = work / ".zattrs"
        attrs = json.loads(meta_path.read_text())
        ms = attrs["multiscales"][0]
        if "missing" in label:
            shutil.rmtree(work / ms["datasets"][1]["path"])
        else:
            change(ms)
        meta_path.write_text(json.dumps(attrs))
        rc, err = cli(["predict", work, "-o", root / "o.tif", "--overwrite", "--model", model,
                       "--level", "1" if "missing" in label else "0", "-q"], root)  # fmt: skip
        yield "tracebacks", f"an OME-Zarr with {label}", verdict(rc, err)
    z2 = root / "codec.zarr"
    a2 = zarr.create_array(str(z2), shape=(32, 32), chunks=(32, 32), dtype="float32",
                           zarr_format=2)  # fmt: skip
    a2[:] = 1
    meta = json.loads((z2 / ".zarray").read_text())
    for label, meta_change in (
        ("an unknown codec", {"compressor": {"id": "no-such-codec"}}),
        ("a pickle filter", {"filters": [{"id": "pickle"}], "dtype": "|O"}),
    ):
        (z2 / ".zarray").write_text(json.dumps({**meta, **meta_change}))
        rc, err = cli(["predict", z2, "-o", root / "o.tif", "--overwrite", "--model", model],
                      root)  # fmt: skip
        yield "tracebacks", f"a Zarr with {label}", verdict(rc, err)
    deep = "[" * 100_000 + "]" * 100_000
    (root / "deep_model.json").write_text(deep)
    shutil.copyfile(root / "m.safetensors", root / "deep_model.safetensors")
    rc, err = cli(["predict", lr, "-o", root / "o.tif", "--overwrite", "--model",
                   root / "deep_model.json"], root)  # fmt: skip
    yield "tracebacks", "model JSON nested 100000 deep", verdict(rc, err)
    two = root / "yxc2.tif"
    tifffile.imwrite(two, np.zeros((40, 40, 2), np.uint16), photometric="minisblack",
                     planarconfig="contig")  # fmt: skip
    rc, err = cli(["predict", two, "-o", root / "o2.tif", "--overwrite", "--model", model, "-q"],
                  root)  # fmt: skip
    yield "tracebacks", "a two-channel YXC TIFF", verdict(rc, err, expect_ok=True)
    import imageio.v3 as iio

    iio.imwrite(root / "la.png", np.zeros((40, 40, 2), np.uint8))
    rc, err = cli(["predict", root / "la.png", "-o", root / "la_sr.png", "--overwrite", "--model",
                   model, "-q"], root)  # fmt: skip
    yield "tracebacks", "a grey + alpha PNG", verdict(rc, err, expect_ok=True)
    tifffile.imwrite(root / "four.tif", np.zeros((2, 3, 40, 40), np.uint16))
    rc, err = cli(["predict", root / "four.tif", "-o", root / "four_sr.ome.tif", "--overwrite",
                   "--model", model, "-q"], root)  # fmt: skip
    yield (
        "tracebacks",
        "a plain 4-D TIFF written back as OME-TIFF",
        verdict(rc, err, expect_ok=True),
    )
    for label, change in (
        ("an unknown arch_kwargs key", lambda m: {**m, "arch_kwargs": {"bogus": 1}}),
        ("arch_kwargs of the wrong type", lambda m: {**m, "arch_kwargs": [1, 2]}),
        ("a card of the wrong type", lambda m: {**m, "card": "text"}),
        ("steering of the wrong type", lambda m: {**m, "steering": [1]}),
        ("a scale of 1e6", lambda m: {**m, "scale": 10**6}),
        ("normalization of the wrong type", lambda m: {**m, "normalization": "percentile"}),
    ):
        meta = change(json.loads((root / "m.json").read_text()))
        (root / "v.json").write_text(json.dumps(meta))
        shutil.copyfile(root / "m.safetensors", root / "v.safetensors")
        rc, err = cli(["predict", lr, "-o", root / "o.tif", "--overwrite", "--model",
                       root / "v.json"], root)  # fmt: skip
        yield "tracebacks", f"model JSON with {label}", verdict(rc, err)
    for label, make in (
        ("an rdf.yaml that is a list", lambda z: z.writestr("rdf.yaml", "- 1\n- 2\n")),
        ("a member with a bad CRC", None),
        ("an unknown compression method", None),
    ):
        pkg = root / f"pkg_{abs(hash(label)) % 10**6}.zip"
        with zipfile.ZipFile(pkg, "w") as z:
            z.writestr("model.json", (root / "m.json").read_text())
            z.writestr("model.safetensors", (root / "m.safetensors").read_bytes())
            if make is not None:
                make(z)
            else:
                z.writestr("rdf.yaml", "type: model\nformat_version: 0.5.3\n")
        raw = bytearray(pkg.read_bytes())
        if "CRC" in label:
            at = raw.find(b"model.safetensors") + len("model.safetensors") + 40
            raw[at] ^= 0xFF
        if "compression" in label:
            raw[8] = 99  # the first local header's compression method
            cd = raw.find(b"PK\x01\x02")
            raw[cd + 10] = 99
        pkg.write_bytes(bytes(raw))
        rc, err = cli(["predict", lr, "-o", root / "o.tif", "--overwrite", "--model", pkg], root)
        yield "tracebacks", f"a package zip with {label}", verdict(rc, err)
    run = root / "run_resume"
    base = ["train", "--hr", hr, "--iters", "6", "--checkpoint-every", "2", "--patch", "32",
            "--batch", "2", "--no-gan", "--arch-option", "n_blocks=1", "--arch-option", "nf=8",
            "-q", "--out", run]  # fmt: skip
    for label in ("its newest checkpoint truncated", "a state without the optimiser",
                  "latest.json nested 100000 deep"):  # fmt: skip
        shutil.rmtree(run, ignore_errors=True)
        cli([*base[:3], "--iters", "4", *base[5:]], root)
        ckpts = sorted((run / "checkpoints").glob("step_*"))
        if not ckpts:
            yield "tracebacks", f"resume with {label}", "traceback"
            continue
        newest = ckpts[-1]
        if "truncated" in label:
            w = next(newest.glob("*.safetensors"))
            w.write_bytes(w.read_bytes()[:100])
        elif "optimiser" in label:
            for p in newest.glob("*optim*"):
                p.unlink()
            meta = newest / "meta.json"
            if meta.exists():
                m = json.loads(meta.read_text())
                m.pop("optimizer", None)
                m.pop("optimizers", None)
                meta.write_text(json.dumps(m))
        else:
            (run / "checkpoints" / "latest.json").write_text("[" * 100_000 + "]" * 100_000)
        rc, err = cli([*base, "--resume"], root)
        yield "tracebacks", f"resume with {label}", verdict(rc, err, expect_ok=True)
    for seed in ("-1", str(2**70)):
        rc, err = cli([*base[:-2], "--out", root / "seed", "--overwrite", "--seed", seed], root)
        yield "tracebacks", f"train --seed {seed}", verdict(rc, err)
    block = root / "nodist"
    block.mkdir(exist_ok=True)
    (block / "sitecustomize.py").write_text("import sys\nsys.modules['distributed'] = None\n")
    env = {**_env(root), "PYTHONPATH": str(block)}
    rc, err = cli(["predict", lr, "-o", root / "o.tif", "--overwrite", "--model", model,
                   "--scheduler", "tcp://127.0.0.1:1"], root, env=env)  # fmt: skip
    yield "tracebacks", "--scheduler without the distributed package", verdict(rc, err)
    load = "import numpy as np, datetime\nfrom napari_sisr import predict, simulate_lr\n"
    for call, ok in (
        ("predict(None, 'm.json')", False),
        ("predict({'a': 1}, 'm.json')", False),
        ("import torch\nout = predict(torch.rand(32, 32), 'm.json')\n"
         "assert np.asarray(out).shape == (64, 64)", True),
        ("predict(np.zeros(32, np.float32), 'm.json')", False),
        ("predict(np.array([datetime.datetime.now()] * 4).reshape(2, 2), 'm.json')", False),
        ("predict(np.zeros((32, 32), 'datetime64[s]'), 'm.json')", False),
        ("predict(np.zeros((32, 32), np.float32), 'm.json', tile='big')", False),
        ("simulate_lr(np.zeros((32, 32)), scale=2, rng='abc')", False),
        ("simulate_lr(np.zeros((32, 32)), {'scale': 2, 'sigma': 1.0})", True),
        ("simulate_lr(np.zeros((32, 32)), params={'scale': 'x'})", False),
        ("simulate_lr('hr.tif', scale=2)", False),
    ):  # fmt: skip
        rc, out = py(load + call, root)
        yield "tracebacks", f"Python {call.splitlines()[-1][:60]}", verdict(rc, out, expect_ok=ok)


def unclear_messages(root: Path, f: dict):
    """Class 5: refusals that do not name the file, the flag or the remedy."""
    import tifffile

    hr, lr, model = f["hr"], f["lr"], f["model"]
    for label, args, name, fsize in (
        ("predict -o .tif on a full disk", ["predict", hr, "-o", root / "d1.tif", "--model",
                                            model, "-q"], "d1.tif", 4096),
        ("predict -o .png on a full disk", ["predict", hr, "-o", root / "d2.png", "--model",
                                            model, "-q"], "d2.png", 4096),
        ("simulate -o on a full disk", ["simulate", hr, "-o", root / "d3.tif", "--scale", "1"],
         "d3.tif", 4096),
        ("fit -o on a full disk", ["fit", hr, lr, "--scale", "4", "-o", root / "d4.json", "-q"],
         "d4.json", 256),
        ("export-bmz on a full disk", ["export-bmz", model, "-o", root / "d5.zip"], "d5.zip",
         4096),
        ("train on a full disk", ["train", "--hr", hr, "--iters", "2", "--out", root / "d6",
                                  "--no-gan", "-q"], "d6", 4096),
    ):  # fmt: skip
        rc, err = cli(args, root, fsize=fsize)
        v = verdict(rc, err)
        if v == "handled" and name not in err and "could not write" not in err:
            v = "unclear message"  # neither the output nor the file that failed is named
        yield "unclear messages", label, v
    batch = root / "mac"
    batch.mkdir(exist_ok=True)
    img = np.asarray(tifffile.imread(lr))[:48, :48]
    tifffile.imwrite(batch / "a.tif", img)
    (batch / "._a.tif").write_bytes(b"\x00\x05\x16\x07resource fork")
    (batch / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    rc, err = cli(["predict", batch, "-o", root / "mac_out", "--model", model, "-q"], root)
    n = len(list((root / "mac_out").glob("*"))) if (root / "mac_out").exists() else 0
    yield "unclear messages", "a folder with macOS ._ files and .DS_Store", (
        "handled" if rc == 0 and n == 1 else verdict(rc, err, expect_ok=True))  # fmt: skip
    batch = root / "collide"
    batch.mkdir(exist_ok=True)
    import imageio.v3 as iio

    tifffile.imwrite(batch / "a.tif", img)
    tifffile.imwrite(batch / "a.tiff", img)
    iio.imwrite(batch / "a.png", (img / img.max() * 255).astype(np.uint8))
    rc, err = cli(["predict", batch, "-o", root / "collide_out", "--model", model, "-q"], root)
    n = len(list((root / "collide_out").glob("*"))) if (root / "collide_out").exists() else 0
    yield "unclear messages", "a folder of a.tif, a.tiff and a.png", (
        "handled" if rc == 0 and n == 3 else verdict(rc, err, expect_ok=True))  # fmt: skip
    for label, args, word in (
        ("--loss with text", ["train", "--hr", hr, "--out", root / "rl", "--loss",
                              "l_g_pix=abc"], "--loss"),
        ("--arch-option with text", ["train", "--hr", hr, "--out", root / "ra",
                                     "--arch-option", "nf=many"], "--arch-option"),
        ("--optics with text", ["predict", lr, "-o", root / "o.tif", "--overwrite", "--model",
                                "aware-2x", "--optics", "NA=high,wavelength=520"], "optics"),
    ):  # fmt: skip
        rc, err = cli(args, root)
        v = verdict(rc, err)
        if v == "handled" and word not in err:
            v = "unclear message"
        yield "unclear messages", label, v


CLASSES = {
    "redirected writes": redirected_writes,
    "hangs and memory": hangs_and_memory,
    "silently wrong": silently_wrong,
    "tracebacks": tracebacks,
    "unclear messages": unclear_messages,
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case")
    ap.add_argument("--only", choices=sorted(CLASSES), help="run one class")
    ap.add_argument("--json", help="append the verdicts to this JSON-lines file")
    args = ap.parse_args(argv)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    records = []
    with tempfile.TemporaryDirectory(prefix="hostile2_") as tmp:
        root = Path(tmp)
        files = setup(root)
        for name, fn in CLASSES.items():
            if args.only and name != args.only:
                continue
            for category, case, v in fn(root, files):
                counts[category][v] += 1
                records.append({"class": category, "case": case, "verdict": v})
                if args.json:
                    with open(args.json, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps(records[-1]) + "\n")
                if args.verbose or v != "handled":
                    print(f"{v:>16}  {category}: {case}", flush=True)
    print("\n| class | cases | " + " | ".join(KINDS) + " |")
    print("|---|---:|" + "---:|" * len(KINDS))
    for category, c in counts.items():
        print(f"| {category} | {sum(c.values())} | " + " | ".join(str(c[k]) for k in KINDS) + " |")
    total = sum(sum(c.values()) for c in counts.values())
    handled = sum(c["handled"] for c in counts.values())
    print(f"\n{handled} of {total} cases handled")
    return 0


if __name__ == "__main__":
    threading.stack_size(64 * 2**20)
    sys.exit(main())
