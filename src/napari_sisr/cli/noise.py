"""``napari-sisr noise``: a degradation model from an LR capture alone (no HR image).

The unpaired fallback of ``napari-sisr fit``: the noise is estimated from the LR image itself and
the PSF width is given directly (``--sigma``) or computed from the optics (``--wavelength-nm``,
``--na``, ``--pixel-size-um``). Prints the same JSON summary as ``fit``.
"""

from __future__ import annotations

from ._common import add_pixel_size_um, print_json, save_params


def add(sub) -> None:
    p = sub.add_parser(
        "noise",
        help="degradation model from an LR capture alone (noise from the image, PSF from optics)",
        description=(
            "Unpaired fallback of 'fit': estimate the noise of an LR capture from the image "
            "itself and take the PSF width from --sigma or from the optics. Gain is 1 and "
            "offset 0 (the HR images you train on set the intensity scale)."
        ),
    )
    p.add_argument("lr", help="LR capture (TIFF, OME-TIFF, PNG, JPEG)")
    p.add_argument("--scale", type=int, required=True, help="integer super-resolution factor")
    p.add_argument("--sigma", type=float, help="PSF sigma in HR pixels (instead of the optics)")
    p.add_argument(
        "--wavelength-nm",
        "--wavelength",
        dest="wavelength",
        type=float,
        metavar="NM",
        help="emission wavelength, nm",
    )
    p.add_argument("--na", type=float, help="numerical aperture of the LR objective")
    add_pixel_size_um(p, "LR pixel size in the sample, um")
    p.add_argument(
        "--modality", choices=["widefield", "confocal"], default="widefield", help="PSF model"
    )
    p.add_argument(
        "--optics",
        metavar="NA=1.4,wavelength_nm=520,pixel_nm=65",
        help="the optics in one flag, as 'napari-sisr predict' takes them (nm; "
        "modality=confocal optional), instead of --na, --wavelength-nm and --pixel-size-um",
    )
    p.add_argument("--poisson", action="store_true", help="estimate Poisson-Gaussian noise")
    p.add_argument("--channel", type=int, help="use this channel instead of the luminance")
    p.add_argument("-o", "--output", help="write the parameters to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..core.degradation.unpaired import unpaired_params
    from ..core.errors import InputError
    from ..core.io.images import read_image, to_gray

    def separate() -> dict:  # the optics as separate flags, as given or read from --optics
        return {
            "--wavelength-nm": args.wavelength,
            "--na": args.na,
            "--pixel-size-um": args.pixel_size,
        }

    if args.optics is not None:
        from ..core.inference.steering import Optics

        flags = {"--sigma": args.sigma, **separate()}
        named = [f for f, v in flags.items() if v is not None]
        if named:
            raise InputError(f"give --optics or {named[0]}, not both")
        o = Optics.parse(args.optics)
        if o.pixel_nm is None:
            raise InputError(
                f"--optics {args.optics}: the LR pixel size is needed here (pixel=.., nm)"
            )
        args.wavelength, args.na, args.pixel_size = o.wavelength_nm, o.na, o.pixel_nm / 1000
        if "modality" in args.optics.lower():  # else --modality (default widefield) holds
            args.modality = o.modality
    optics = separate()
    given = [k for k, v in optics.items() if v is not None]
    if args.sigma is not None and given:
        raise InputError(f"give --sigma or the optics, not both (got --sigma and {given[0]})")
    if args.sigma is None and len(given) != len(optics):
        missing = [k for k, v in optics.items() if v is None]
        raise InputError(
            "the PSF width is needed: give --sigma, or --wavelength-nm, --na and --pixel-size-um "
            f"(missing {', '.join(missing)})"
        )
    if args.scale < 1:
        raise InputError(f"--scale must be a positive integer, got {args.scale}")
    arr = read_image(args.lr)
    try:
        lr = to_gray(arr, args.channel)
    except ValueError as err:
        raise InputError(f"LR image: {err}") from None
    params = unpaired_params(
        lr,
        args.scale,
        sigma=args.sigma,
        wavelength_nm=args.wavelength,
        na=args.na,
        lr_pixel_um=args.pixel_size,
        modality=args.modality,
        poisson=args.poisson,
    )
    if args.output:
        save_params(params, args.output, args.overwrite, inputs=(args.lr,))
    print_json(params.summary())
    return 0
