"""``napari-sisr psf BEADS -o psf.json``: the PSF measured on an image of beads."""

from __future__ import annotations

import sys

from ._common import print_json


def add(sub) -> None:
    p = sub.add_parser(
        "psf",
        help="measure the PSF on an image of sub-resolution beads (2D or a z-stack)",
        description=(
            "Finds isolated beads, fits each with a Gaussian integrated over the pixel, and "
            "writes the median width (with its spread over the beads) as a degradation JSON "
            "that --degradation takes (source 'beads'). Pixel sizes come from the file's "
            "metadata unless given. Prints one JSON line; the table goes to stderr."
        ),
    )
    p.add_argument("beads", help="image of beads: 2D (Y, X) or a z-stack (Z, Y, X)")
    p.add_argument("-o", "--output", required=True, help="degradation JSON to write")
    p.add_argument("--scale", type=int, default=4, help="SR factor the JSON is for (default 4)")
    p.add_argument(
        "--pixel-size-um",
        type=float,
        metavar="UM",
        help="lateral pixel size of the bead image, micrometres",
    )
    p.add_argument("--z-step-um", type=float, metavar="UM", help="z step of a stack, micrometres")
    p.add_argument(
        "--capture-pixel-size-um",
        type=float,
        metavar="UM",
        help="pixel size of the captures the PSF is for, if not the beads' (um)",
    )
    p.add_argument(
        "--bead-nm",
        type=float,
        default=0.0,
        help="bead diameter in nm, taken out of the widths (default 0)",
    )
    p.add_argument("--channel", type=int, help="use this channel (default the first)")
    p.add_argument("--picture", metavar="PNG", help="also draw the measurement to this PNG")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..core.degradation.beads import bead_picture, fit_beads
    from ..core.errors import InputError
    from ._common import save_params
    from ._evidence import pixel_size_nm

    image, voxel = read_stack(args.beads, args.channel, args.pixel_size_um, args.z_step_um)
    fit = fit_beads(image, voxel, bead_nm=args.bead_nm)
    capture_um = None
    if args.capture_pixel_size_um is not None:
        capture_um = pixel_size_nm(args.capture_pixel_size_um, None) / 1000.0
    if args.scale < 1 or args.scale > 16:
        raise InputError(f"--scale must be 1 to 16, got {args.scale}")
    params = fit.to_params(args.scale, capture_um)
    save_params(params, args.output, args.overwrite, [args.beads])
    print(fit.table(), file=sys.stderr)
    out = {
        "output": args.output,
        **fit.summary(),
        "sigma_hr_px": params.sigma_yx,
        "scale": args.scale,
    }
    if args.picture:
        out["picture"] = bead_picture(image, fit, args.picture)
    print_json(out)
    return 0


def read_stack(path: str, channel: int | None, pixel_um: float | None, z_um: float | None):
    """An image (Z, Y, X) or (Y, X) of one channel and its voxel size (um: (z, y, x) or the
    lateral one), the sizes given overriding the file's."""
    import numpy as np

    from ..core.errors import InputError
    from ..core.inference.input import canonical_input
    from ..core.io.units import to_micrometres
    from ._evidence import pixel_size_nm

    inp = canonical_input(path)
    data = inp.data
    c = data.shape[-1]
    if channel is not None and not 0 <= channel < c:
        raise InputError(f"{path}: channel {channel} does not exist (it has {c})")
    data = np.asarray(data[..., channel or 0])
    axes = str(getattr(inp, "axes", "") or "")
    while data.ndim > 3:  # a time series of stacks: the first
        data = data[0]
    if data.ndim == 3 and "z" not in axes.lower():
        raise InputError(f"{path}: a 3D image that is not a z-stack (axes {axes!r})")

    def found(axis):
        size, unit = inp.pixel_size.get(axis), inp.units.get(axis)
        return to_micrometres(size, unit) if size is not None and unit else None

    lateral = pixel_size_nm(pixel_um, None)
    lateral = lateral / 1000.0 if lateral else found("x")
    if data.ndim == 2:
        return data, lateral
    z = pixel_size_nm(z_um, None, "--z-step-um") / 1000.0 if z_um is not None else found("z")
    if lateral and not z:
        raise InputError(f"{path}: the z step is not in the file: give --z-step-um")
    return data, (
        (z, found("y") if pixel_um is None and found("y") else lateral, lateral)
        if lateral
        else None
    )
