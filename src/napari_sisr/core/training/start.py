"""Which weights a training run starts from.

By default (``init="auto"``) a run whose network is the bundled models' own (a single-channel
SRResNet of the default preset, no architecture options), trained on simulated captures (a
fitted or blind degradation) or on registered real pairs (paired mode), starts from the
bundled model of its scale, or from a smaller one whose network grows to it (``default-4x``
starts an 8x run). On real LR/HR pairs this beats a random start for the same steps, in
both modes (benchmarks/bench_real_pairs.py, ``chain-init`` against ``chain``,
``paired-init`` against ``paired``; benchmarks/reports/real-captures-history.md). Any other run, and
``init=None``, starts from random weights.
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError

#: ``TrainConfig.init`` value that picks the bundled model of the run's scale when it fits.
AUTO_INIT = "auto"

#: Bundled models a run may start from, largest scale first.
BUNDLED_STARTS = ("default-8x", "default-4x", "default-2x")


def bundled_start(scale: int) -> str | None:
    """The bundled model that starts a plain SRResNet run of ``scale``: the model of that
    scale, else the largest smaller one whose network grows to it; ``None`` when none does."""
    from ..archs.srresnet import SRResNet
    from ..modelio import bundled_models, read_model_meta

    have = bundled_models()
    for name in BUNDLED_STARTS:
        if name not in have:
            continue
        theirs = int(read_model_meta(name)["scale"])
        if theirs == scale or (theirs < scale and SRResNet.grows(theirs, scale)):
            return name
    return None


def check_rescaling(init: str, meta: dict[str, Any], arch: str | None, scale: int) -> None:
    """A model of another scale may start a run only where its network can grow to it."""
    from ..archs import get_spec

    arch = arch or meta["arch"]
    spec, theirs = get_spec(arch), int(meta["scale"])
    if scale not in spec.scales:
        return  # the scale check names the supported scales
    grows = hasattr(spec.generator, "load_smaller_scale")
    if not grows or not spec.generator.grows(theirs, scale):
        raise InputError(
            f"init model {init!r} has scale={theirs} but the run is at scale {scale}: "
            f"train at scale {theirs} to fine-tune it, or start from a model of scale {scale} "
            + (
                "(an SRResNet of a smaller scale starts larger ones: 2x -> 4x, 8x; 4x -> 8x)"
                if grows
                else f"({arch} models start only their own scale)"
            )
        )
