"""``napari-sisr predict``: super-resolve files or folders of images in tiles.

TIFF / OME-TIFF inputs are read lazily (as zarr), PNG / JPEG whole, zarr / OME-Zarr chunk by
chunk. Outputs are OME-Zarr folders (any size, resumable) or TIFF files (small results).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..core.errors import InputError, OutputExistsError
from ._common import add_pixel_size_um, print_json

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".zarr")
TIFF_OUT_MAX_BYTES = 1 << 30


def add(sub) -> None:
    from ..core.inference.config import ENGINES, PRECISIONS, PredictConfig
    from ..core.modelio import DEFAULT_MODEL

    default = {k: f.default for k, f in PredictConfig.model_fields.items()}
    p = sub.add_parser("predict", help="super-resolve images with a trained model (tiled)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="images, OME-Zarr or folders")
    p.add_argument("-o", "--output", required=True, help="output .zarr / .tif, or a folder")
    p.add_argument(
        "--model",
        help="bundled model name (see 'napari-sisr models') or a model path (.json / "
        f".safetensors); default: aware-4x where a PSF is given (flags below, or the image's "
        f"metadata), else {DEFAULT_MODEL}",
    )
    p.add_argument(
        "--tile", type=int, help=f"tile size in input pixels (default {default['tile']})"
    )
    p.add_argument("--halo", help="halo in input pixels, or 'auto' (the receptive field; default)")
    p.add_argument("--batch", type=int, help=f"tiles per forward pass (default {default['batch']})")
    p.add_argument("--device", help=f"auto, cpu, cuda, cuda:N or mps (default {default['device']})")
    p.add_argument(
        "--engine",
        choices=ENGINES,
        help="what runs the network (default auto: OpenVINO on a CPU when installed, else torch)",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="auto (the default: bf16 with OpenVINO on a CPU that runs it natively, else "
        "fp32); bf16 / fp16 only where the device runs them natively (fp16: GPUs); int8 with "
        "the OpenVINO engine",
    )
    p.add_argument("--dtype", choices=["input", "float32"], default="input", help="output dtype")
    p.add_argument(
        "--evidence",
        action="store_true",
        help="also measure how far the capture supports the result: a z-score map "
        "(<out>.evidence.tif, or an 'evidence' group in an OME-Zarr output), the resolution "
        "and the uncertainty, summarised in the JSON line (see 'napari-sisr evidence')",
    )
    p.add_argument(
        "--format",
        choices=["auto", "zarr", "tif"],
        default="auto",
        help="output format for folder outputs (auto: TIFF if small, else OME-Zarr)",
    )
    p.add_argument(
        "--ngff",
        choices=["0.4", "0.5"],
        help="OME-Zarr version of .zarr outputs: 0.4 (zarr v2, the default, read everywhere) "
        "or 0.5 (zarr v3, sharded: one file per block, for very large images)",
    )
    p.add_argument("--level", type=int, help="pyramid level of multiscale inputs (default 0)")
    p.add_argument("--channel-axis", type=int, help="axis of channels (processed separately)")
    p.add_argument("--axes", help="axis names of the input, e.g. tczyx")
    add_pixel_size_um(p, "input pixel size in um (if not in the file)")
    p.add_argument("--blend", action="store_true", help="cross-fade overlapping tiles")
    p.add_argument(
        "--ensemble",
        action="store_true",
        help="average the network's answers for 8 flips/rotations of each tile: a little "
        "more accurate, 8x the compute",
    )
    p.add_argument("--scheduler", help="dask.distributed scheduler address (tcp://host:port)")
    p.add_argument("--workers", type=int, help="local worker threads (default 2)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group(
        "degradation (degradation-aware models only; unset: noise estimated from the image, "
        "PSF from its metadata or the model card)"
    )
    g.add_argument("--degradation", metavar="FIT.json", help="the JSON of 'napari-sisr fit'")
    g.add_argument("--sigma", type=float, help="PSF sigma in HR pixels of the model's scale")
    g.add_argument(
        "--noise-std", type=float, help="noise std as a fraction of the intensity range (0.02)"
    )
    g.add_argument(
        "--optics",
        metavar="NA=1.4,wavelength_nm=520,pixel_nm=65",
        help="NA, emission wavelength (nm), LR pixel size (nm; default the image's): the PSF",
    )
    p.set_defaults(run=run)


def steering(args):
    """The degradation flags as a :class:`Steering` (``None`` when none is given)."""
    from ..core.degradation.params import DegradationParams
    from ..core.inference.steering import Optics, Steering

    given = {
        "fit": DegradationParams.load(args.degradation) if args.degradation else None,
        "sigma": args.sigma,
        "noise_std": args.noise_std,
        "optics": Optics.parse(args.optics) if args.optics else None,
    }
    given = {k: v for k, v in given.items() if v is not None}
    return Steering.coerce(given) if given else None


def predict_config(args):
    """The :class:`PredictConfig` of the parsed flags (unset flags keep core's defaults)."""
    from ..core.inference.config import PredictConfig

    halo = args.halo
    if halo is not None and halo != "auto":
        halo = _int(halo, "--halo")
    given = {
        "tile": args.tile,
        "halo": halo,
        "batch": args.batch,
        "device": args.device,
        "precision": args.precision,
        "engine": args.engine,
        "dtype": "float32" if args.dtype == "float32" else None,
        "blend": True if args.blend else None,
        "ensemble": True if args.ensemble else None,
        "level": args.level,
        "channel_axis": args.channel_axis,
        "axes": args.axes,
        "pixel_size": args.pixel_size,
        "num_workers": args.workers,
        "ngff": args.ngff,
        "degradation": steering(args),
    }
    return PredictConfig(**{k: v for k, v in given.items() if v is not None})


def _is_zarr(path: Path) -> bool:
    return path.is_dir() and (
        path.suffix.lower() == ".zarr"
        or any((path / f).exists() for f in (".zarray", ".zgroup", "zarr.json"))
    )


def expand_inputs(items: list[str]) -> list[Path]:
    """Files and zarr folders named, plus the images inside plain folders (sorted)."""
    out: list[Path] = []
    for item in items:
        path = Path(item)
        if not path.exists():
            raise InputError(f"input not found: {path}")
        if path.is_dir() and not _is_zarr(path):
            found = sorted(
                p
                for p in path.iterdir()
                if (p.is_file() or _is_zarr(p))
                and p.suffix.lower() in IMAGE_SUFFIXES
                and not p.name.startswith(".")  # hidden files, macOS "._" resource forks
            )
            if not found:
                raise InputError(f"no images (TIFF, PNG, JPEG, zarr) in folder {path}")
            out += found
        else:
            out.append(path)
    return out


#: Output suffixes of a single file (or OME-Zarr folder); anything else is a folder.
FILE_SUFFIXES = (".zarr", ".tif", ".tiff", ".png", ".jpg", ".jpeg")
EIGHT_BIT_SUFFIXES = (".png", ".jpg", ".jpeg")


def _targets(inputs: list[Path], output: str, fmt: str) -> list[tuple[Path, Path | None]]:
    """(input, output path) pairs; an output without suffix lets the size decide the format.

    ``-o`` with a file suffix is that file (one input only); without a suffix, or an existing
    folder, it is a folder that gets ``<name>_sr.*`` per input, unique even when two inputs
    share a stem (``x.tif`` and ``x.png``).
    """
    out = Path(output)
    suffix = out.suffix.lower()
    if suffix in FILE_SUFFIXES and not (out.is_dir() and suffix != ".zarr"):
        if len(inputs) != 1:
            raise InputError(f"several inputs: -o must be a folder, got {out}")
        return [(inputs[0], out)]
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out} is an existing file, not a folder")
    if suffix and not out.is_dir():
        raise InputError(
            f"cannot write {out.name}: -o takes a .zarr, .tif, .png or .jpg name, or a folder"
        )
    stems = [p.name.split(".")[0] for p in inputs]
    pairs = []
    for p, stem in zip(inputs, stems, strict=True):
        if stems.count(stem) > 1:
            stem = p.name.replace(".", "_")  # x.tif, x.png -> x_tif_sr, x_png_sr
        stem += "_sr"
        ext = {"zarr": ".zarr", "tif": ".tif"}.get(fmt, "")
        pairs.append((p, out / (stem + ext)))
    return pairs


def _same_place(src: Path, dst: Path) -> bool:
    """Whether writing ``dst`` would replace (or write inside) the input ``src``."""
    try:
        s, d = src.resolve(), dst.resolve()
    except OSError:
        return False
    return d == s or s in d.parents or d in s.parents


def _write_8bit(path: Path, result, quiet: bool) -> str:
    """A PNG / JPEG of the result: 8-bit (PNG: 16-bit integers kept), range mapped if needed.
    Returns the dtype written."""
    import numpy as np

    from ..core.io.images import write_image

    data = np.asarray(result)
    keep = data.dtype == np.uint8 or (data.dtype == np.uint16 and path.suffix.lower() == ".png")
    if not keep:
        lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        data = np.clip(np.rint((data - lo) * scale), 0, 255).astype(np.uint8)
        if not quiet:
            print(
                f"napari-sisr predict: warning: {path.name} holds 8-bit values: the result "
                f"({result.dtype}, {lo:.6g} to {hi:.6g}) was mapped to 0-255; write a .tif "
                "to keep its intensities",
                file=sys.stderr,
            )
    write_image(path, data)
    return str(data.dtype)


def run(args) -> int:
    from ..core.inference.runner import resolve_model

    config = predict_config(args)
    inputs = expand_inputs(args.inputs)
    targets = _targets(inputs, args.output, args.format)
    for src, dst in targets:
        if _same_place(src, dst):
            raise InputError(f"the output {dst} would replace the input {src}: choose another -o")
    name = args.model
    if name is None:
        from ..core.inference.route import default_route

        name, why = default_route(config.degradation, _states_optics(inputs[0]))
        print(why, file=sys.stderr)
    model, _ = resolve_model(name)  # load once, clear error if missing or corrupt
    failed = []
    for src, dst in targets:
        try:
            _predict_one(src, dst, model, config, args)
        except InputError as err:
            if len(targets) == 1:
                raise
            failed.append(src)  # one bad file in a batch: said, and the others still run
            print(f"napari-sisr predict: error: {src}: {err}", file=sys.stderr)
    if failed:
        done = len(targets) - len(failed)
        print(
            f"napari-sisr predict: {done} of {len(targets)} images done; failed: "
            + ", ".join(str(p) for p in failed),
            file=sys.stderr,
        )
        return 2
    return 0


def _states_optics(path: Path) -> bool:
    """Whether an input's metadata states NA, emission wavelength and a pixel size."""
    from ..core.inference.input import canonical_input

    try:
        inp = canonical_input(str(path))
    except (InputError, OSError):
        return False
    optics = getattr(inp, "optics", None) or {}
    return "na" in optics and "wavelength_nm" in optics and bool(inp.pixel_size.get("x"))


def _predict_one(src: Path, dst: Path, model, config, args) -> None:
    """Super-resolve one input to one output and print its JSON line."""
    from ..core.inference.predict import iter_predict, prepare
    from ..core.progress import run_to_end
    from ._common import progress_printer

    if dst.suffix == "":
        nbytes = prepare(str(src), model, config).lazy.nbytes
        small = src.is_file() and nbytes <= TIFF_OUT_MAX_BYTES
        dst = dst.with_suffix(".tif" if small else ".zarr")
    if dst.exists() and not args.overwrite and dst.suffix.lower() != ".zarr":
        raise OutputExistsError(f"{dst} exists; pass --overwrite to replace it")
    eight_bit = dst.suffix.lower() in EIGHT_BIT_SUFFIXES
    t0 = time.perf_counter()
    gen = iter_predict(
        str(src),
        model,
        out=None if eight_bit else dst,
        overwrite=args.overwrite,
        scheduler=args.scheduler,
        config=config,
    )
    result = run_to_end(gen, progress_printer(args.quiet))
    written = str(result.dtype)
    if eight_bit:
        written = _write_8bit(dst, result, args.quiet)
    line = {
        "input": str(src),
        "output": str(dst),
        "shape": list(result.shape),
        "dtype": written,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if args.evidence:
        try:
            line["evidence"] = _evidence(src, dst, result, model, config, args.quiet)
        except InputError as err:  # the result is written and complete: say why it has none
            print(f"evidence: not measured for {src.name}: {err}", file=sys.stderr)
            line["evidence"] = {"error": str(err)}
    print_json(line)


def _evidence(src: Path, dst: Path, result, model, config, quiet: bool) -> dict:
    """The evidence of one result, its maps written beside (or into) the output."""
    from ..core.evidence.job import evidence_of_result, write_evidence, zarr_evidence_array
    from ..core.inference.input import canonical_input

    if not quiet:
        print("measuring the evidence (consistency, resolution, uncertainty)", file=sys.stderr)
    scale = int(model.scale)
    if dst.suffix.lower() == ".zarr" or dst.is_dir():
        lr_shape = canonical_input(str(src)).data.shape
        z_out = zarr_evidence_array(dst, lr_shape)
        try:
            summary = evidence_of_result(str(src), result, model, scale, config, z_out=z_out)
        except BaseException:  # no half-filled evidence group left beside a complete result
            import zarr

            del zarr.open_group(str(dst), mode="a")["evidence"]
            raise
        summary["map"] = f"{dst}/evidence/z"
    else:
        summary = evidence_of_result(str(src), result, model, scale, config)
        layout = canonical_input(str(src)).layout
        summary["map"] = str(write_evidence(dst, summary.pop("z"), layout))
    from ..core.evidence.resolution import describe

    middle = summary.get("middle") or {}
    if not quiet and middle:
        print(
            f"evidence: {100 * summary['flagged_fraction']:.2f} % of the capture's pixels "
            f"disagree with the result beyond 3 noise std; resolution "
            f"{describe(middle.get('resolution_lr'))} -> {describe(middle.get('resolution_sr'))}",
            file=sys.stderr,
        )
        for note in middle.get("notes", []):
            print(f"evidence: {note}", file=sys.stderr)
    return summary


def _int(value: str, flag: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{flag} must be an integer or 'auto', got {value!r}") from None
