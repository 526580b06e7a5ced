"""``napari-sisr isotropic STACK -o OUT``: a z-stack made isotropic from the stack itself."""

from __future__ import annotations

import sys
from pathlib import Path

from ._common import print_json


def add(sub) -> None:
    p = sub.add_parser(
        "isotropic",
        help="make a z-stack isotropic: its z axis restored to the xy sampling",
        description=(
            "Fits how much more the stack's axial (xz, yz) slices are blurred and subsampled "
            "than its xy planes, trains a small network on the stack's own xy planes degraded "
            "that way, and applies it to every xz and yz slice (the two averaged), in blocks. "
            "The z step and pixel size come from the file's metadata unless given. Writes an "
            "OME-Zarr (.zarr) or a TIFF (.tif) with the new z scale; prints one JSON line."
        ),
    )
    p.add_argument("stack", help="a z-stack (Z, Y, X), one channel")
    p.add_argument("-o", "--output", required=True, help="output .ome.zarr / .zarr or .tif")
    p.add_argument("--z-step-um", type=float, metavar="UM", help="z step, micrometres")
    p.add_argument("--pixel-size-um", type=float, metavar="UM", help="xy pixel size, micrometres")
    p.add_argument("--factor", type=int, help="xy pixels per z step, when the sizes are unknown")
    blur = p.add_mutually_exclusive_group()
    blur.add_argument(
        "--sigma",
        type=float,
        help="the extra axial blur in xy pixels instead of fitting it",
    )
    blur.add_argument(
        "--beads",
        metavar="PSF_JSON",
        help="take the axial blur from a bead z-stack measured with napari-sisr psf "
        "(sqrt(sigma_z^2 - sigma_xy^2), in this stack's pixels) instead of fitting it",
    )
    p.add_argument("--iters", type=int, help="training steps (default 1500)")
    p.add_argument(
        "--device", default="auto", help="auto (a GPU where there is one), cpu, cuda, cuda:N, mps"
    )
    p.add_argument("--channel", type=int, help="use this channel (default the first)")
    p.add_argument("--save-model", metavar="PATH", help="also save the trained network here")
    p.add_argument(
        "--picture",
        metavar="PNG",
        help="also draw the fit to this PNG: the stack's xz slice beside an xy plane degraded "
        "by the fit, and the restored xz slice",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    import numpy as np

    from ..core.errors import InputError
    from ..core.io.guard import check_not_input
    from ..core.progress import run_to_end
    from ._common import progress_printer
    from .psf import read_stack

    out = Path(args.output)
    zarr = out.suffix.lower() == ".zarr" or out.name.lower().endswith(".ome.zarr")
    if not zarr and out.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"the output must be a .zarr folder or a .tif file, got {out.name}")
    check_not_input(out, [args.stack])
    if args.picture:
        check_not_input(Path(args.picture), [args.stack])
    if out.exists() and not args.overwrite:
        raise InputError(f"{out} exists: choose another -o or add --overwrite")
    data, voxel = read_stack(args.stack, args.channel, args.pixel_size_um, args.z_step_um)
    if data.ndim != 3:
        raise InputError(f"{args.stack} is not a z-stack (shape {data.shape})")
    z_um, px_um = (voxel[0], voxel[2]) if voxel else (None, None)
    train = {"iters": args.iters} if args.iters else {}
    train["device"] = args.device
    sigma = args.sigma
    if args.beads:
        if not px_um:
            raise InputError("--beads needs the stack's pixel size (--pixel-size-um)")
        from ..core.isotropic import axial_sigma_from_beads

        sigma = axial_sigma_from_beads(args.beads, px_um)
    from ..core.isotropic.job import iter_isotropic

    result = run_to_end(
        iter_isotropic(
            data,
            z_step_um=z_um,
            pixel_um=px_um,
            factor=args.factor,
            sigma=sigma,
            out=out if zarr else None,
            model_out=args.save_model,
            train=train,
            overwrite=args.overwrite,
        ),
        progress_printer(args.quiet),
    )
    restored = result.stack
    if not zarr:
        restored = np.asarray(result.stack)
        _write_tif(out, restored, result.voxel_um)
        result.stack = out
    for note in result.fit.notes:
        print(f"note: {note}", file=sys.stderr)
    summary = result.summary()
    if args.picture:
        summary["picture"] = _picture(data, result.fit, restored, args.picture)
    print_json(summary)
    return 0


def _picture(data, fit, restored, path) -> str:
    """The fit's picture, with the restored xz slice (read from the store when it is one)."""
    from ..core.isotropic.picture import axial_picture

    if isinstance(restored, Path):
        from ..core.io.ngff import open_group, read_multiscales

        group = open_group(restored)
        restored = group[read_multiscales(group).paths[0]]
    return axial_picture(data, fit, path, restored)


def _write_tif(path: Path, stack, voxel) -> None:
    """An ImageJ TIFF with the new z spacing, written through a temporary."""
    import numpy as np
    import tifffile

    from ..core.io.guard import staged

    meta = {"axes": "ZYX"}
    kwargs = {}
    if voxel:
        meta.update(spacing=voxel[0], unit="um")
        kwargs["resolution"] = (1.0 / voxel[2], 1.0 / voxel[1])
    with staged(path) as tmp:
        tifffile.imwrite(tmp, stack.astype(np.float32), imagej=True, metadata=meta, **kwargs)
