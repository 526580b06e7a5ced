"""``napari-sisr simulate``: simulate a low-resolution capture of an HR image."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import InputError, OutputExistsError
from ._common import print_json


def add(sub) -> None:
    p = sub.add_parser("simulate", help="simulate a low-resolution capture of an HR image")
    p.add_argument("hr", help="HR image (TIFF, OME-TIFF, PNG, JPEG)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output LR image: .tif / .ome.tif (any dtype), or .png / .jpg with --dtype input",
    )
    p.add_argument("--params", help="degradation JSON (from 'fit'); flags below override it")
    p.add_argument("--scale", type=int, help="integer scale s (default 4)")
    p.add_argument("--sigma", type=float, help="PSF sigma in HR pixels (default 1.5)")
    p.add_argument("--noise-var", type=float, help="noise variance, LR units (default 0)")
    p.add_argument("--poisson-a", type=float, help="Poisson gain a: var = a*signal + noise_var")
    p.add_argument("--gain", type=float)
    p.add_argument("--offset", type=float)
    p.add_argument("--shift", type=float, nargs=2, metavar=("DY", "DX"), help="HR pixels")
    p.add_argument("--sigma-z", type=float, help="3D blur along Z for z-stacks (planes)")
    p.add_argument("--seed", type=int, default=None, help="noise seed (reproducible output)")
    p.add_argument(
        "--dtype",
        choices=["float32", "input"],
        default="float32",
        help="output dtype: float32 (default) or the input's, rounded and clipped",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(run=run)


def run(args) -> int:
    import numpy as np

    from ..core.degradation.params import DegradationParams
    from ..core.degradation.simulate import simulate_lr
    from ..core.io.guard import check_not_input
    from ..core.io.images import TIFF_SUFFIXES, read_image, write_image

    out = Path(args.output)
    check_not_input(out, [i for i in (args.hr, args.params) if i])
    if out.exists() and not args.overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it")
    params = DegradationParams.load(args.params) if args.params else DegradationParams()
    updates = {
        "scale": args.scale,
        "noise_var": args.noise_var,
        "poisson_a": args.poisson_a,
        "gain": args.gain,
        "offset": args.offset,
        "shift_yx": tuple(args.shift) if args.shift else None,
        "sigma_z": args.sigma_z,
    }
    params = params.updated(**{k: v for k, v in updates.items() if v is not None})
    if args.sigma is not None:
        params = params.with_sigma(args.sigma)
    suffix = out.suffix.lower()
    if suffix not in TIFF_SUFFIXES + (".png", ".jpg", ".jpeg"):
        raise InputError(f"cannot write {out.name}: use a .tif, .ome.tif, .png or .jpg name")
    hr = read_image(args.hr)
    if suffix in (".png", ".jpg", ".jpeg") and (args.dtype != "input" or hr.dtype.kind != "u"):
        raise InputError(
            f"{suffix[1:].upper()} output holds 8-bit (PNG: also 16-bit) integers: pass --dtype "
            "input with an integer HR image, or write a .tif"
        )
    lr = simulate_lr(hr, params, rng=np.random.default_rng(args.seed))
    if args.dtype == "input" and hr.dtype.kind in "ui":
        from ..core.io.dtypes import cast_to

        lr = cast_to(lr, hr.dtype)
    write_image(out, lr)
    print_json({"output": str(out), "shape": list(lr.shape), **params.summary()})
    return 0
