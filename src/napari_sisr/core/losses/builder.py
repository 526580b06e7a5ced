"""Combine the loss terms named in an architecture's ``loss_defaults`` into one callable.

Weight keys (absent or 0 means the term is off):

============== =========================================================== ==============
key            term                                                        logged as
============== =========================================================== ==============
pixel_l1       mean absolute error of the final output                     ``l_g_pix``
pixel_mse      mean squared error of the final output (adds to the above)  ``l_g_pix``
ssim           ``1 - SSIM`` of the final output                            ``l_g_ssim``
dpf_content    :class:`DPFContentLoss` over every refinement level         ``l_g_dpf``
vgg            :class:`VGGFeatureLoss` (only with VGG19 weights)           ``l_g_percep``
adv            generator adversarial loss (only when logits are given)     ``l_g_gan``
============== =========================================================== ==============

Options: ``gan`` (``"ns"`` or ``"relativistic"``), ``label_smoothing`` (discriminator side),
``vgg_layers`` (layer name or ``{layer: weight}``), ``vgg_criterion`` (``"l1"``/``"mse"``),
``vgg_scale`` (feature multiplier), ``data_range`` (for SSIM, default 1).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from .adversarial import gan_loss_d, gan_loss_g
from .pixel import DPFContentLoss, pixel_loss, ssim_loss
from .vgg import build_feature_loss

__all__ = ["GeneratorLoss", "build_discriminator_loss", "build_generator_loss", "LOSS_KEYS"]

log = logging.getLogger(__name__)

_WEIGHTS = ("pixel_l1", "pixel_mse", "ssim", "dpf_content", "vgg", "adv")
_OPTIONS = ("gan", "label_smoothing", "vgg_layers", "vgg_criterion", "vgg_scale", "data_range")
#: every key a loss-weights dict may contain
LOSS_KEYS = _WEIGHTS + _OPTIONS


def _validate(weights: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(weights) - set(LOSS_KEYS))
    if unknown:
        raise InputError(f"unknown loss key(s) {unknown}; known: {list(LOSS_KEYS)}")
    w = dict(weights)
    for key in _WEIGHTS:
        value = float(w.get(key, 0.0) or 0.0)
        if value < 0:
            raise InputError(f"loss weight {key!r} must be >= 0, got {value}")
        w[key] = value
    w.setdefault("gan", "ns")
    if w["gan"] not in ("ns", "relativistic"):
        raise InputError(f"loss option 'gan' must be 'ns' or 'relativistic', got {w['gan']!r}")
    return w


class GeneratorLoss(nn.Module):
    """Weighted sum of generator loss terms; build it with :func:`build_generator_loss`.

    Call with ``(sr_or_levels, hr, real_logits=None, fake_logits=None)``. ``sr_or_levels`` is
    the generator output or the list from ``forward_levels`` (the last entry is the output).
    The adversarial term is added only when ``fake_logits`` are given (so the same loss serves
    pixel-only warm-up). Returns ``(total, terms)``: ``terms`` maps ``l_g_*`` names to the
    weighted, detached values of the active terms.
    """

    def __init__(
        self,
        weights: dict[str, Any],
        feature_loss: nn.Module | None,
        dpf_loss: nn.Module | None,
    ):
        super().__init__()
        self.weights = weights
        self.feature_loss = feature_loss
        self.dpf_loss = dpf_loss

    def forward(
        self,
        sr_or_levels: torch.Tensor | Sequence[torch.Tensor],
        hr: torch.Tensor,
        real_logits: torch.Tensor | None = None,
        fake_logits: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        w = self.weights
        levels = [sr_or_levels] if isinstance(sr_or_levels, torch.Tensor) else list(sr_or_levels)
        sr = levels[-1]
        terms: dict[str, torch.Tensor] = {}
        if w["pixel_l1"] or w["pixel_mse"]:
            pix = sr.new_zeros(())
            if w["pixel_l1"]:
                pix = pix + w["pixel_l1"] * pixel_loss(sr, hr, "l1")
            if w["pixel_mse"]:
                pix = pix + w["pixel_mse"] * pixel_loss(sr, hr, "mse")
            terms["l_g_pix"] = pix
        if w["ssim"]:
            terms["l_g_ssim"] = w["ssim"] * ssim_loss(sr, hr, w.get("data_range", 1.0))
        if self.dpf_loss is not None:
            terms["l_g_dpf"] = w["dpf_content"] * self.dpf_loss(levels, hr)
        if self.feature_loss is not None:
            terms["l_g_percep"] = w["vgg"] * self.feature_loss(sr, hr)
        if w["adv"] and fake_logits is not None:
            terms["l_g_gan"] = w["adv"] * gan_loss_g(real_logits, fake_logits, w["gan"])
        if not terms:
            raise InputError("no loss term is active: give at least one positive weight")
        total = torch.stack(list(terms.values())).sum()
        return total, {k: v.detach() for k, v in terms.items()}


def build_generator_loss(
    weights: Mapping[str, Any],
    vgg_weights: str | os.PathLike | None = None,
    dpf_bank: torch.Tensor | None = None,
) -> GeneratorLoss:
    """Build the generator loss from a weights dict (e.g. ``ArchSpec.loss_defaults[preset]``).

    Parameters
    ----------
    weights : mapping
        Term weights and options (see the module docstring); unknown keys raise.
    vgg_weights : path-like, optional
        VGG19 weights for the ``vgg`` term; without them that term is off (logged).
    dpf_bank : torch.Tensor, optional
        DPF kernels for ``dpf_content`` (pass the cascaded generator's ``net.dpf.weight`` so
        loss and network use the same bank); the default bank if None.

    Returns
    -------
    GeneratorLoss
        An ``nn.Module`` (move it to the training device with ``.to``).
    """
    w = _validate(weights)
    feature_loss = None
    if w["vgg"]:
        kwargs: dict[str, Any] = {}
        for key, arg in (("vgg_layers", "layer"), ("vgg_criterion", "criterion")):
            if key in w:
                kwargs[arg] = w[key]
        if "vgg_scale" in w:
            kwargs["feature_scale"] = float(w["vgg_scale"])
        feature_loss = build_feature_loss(vgg_weights, **kwargs)
    dpf_loss = DPFContentLoss(dpf_bank) if w["dpf_content"] else None
    return GeneratorLoss(w, feature_loss, dpf_loss)


def build_discriminator_loss(
    weights: Mapping[str, Any], generator: torch.Generator | None = None
) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """Discriminator loss matching a weights dict's ``gan`` and ``label_smoothing`` options.

    Returns a callable ``(real_logits, fake_logits) -> (l_d, {"l_d": ...})``; ``generator``
    draws the smoothed labels.
    """
    w = _validate(weights)
    kind, smoothing = w["gan"], bool(w.get("label_smoothing", False))

    def loss_d(real_logits: torch.Tensor, fake_logits: torch.Tensor):
        loss = gan_loss_d(real_logits, fake_logits, kind, smoothing, generator)
        return loss, {"l_d": loss.detach()}

    return loss_d
