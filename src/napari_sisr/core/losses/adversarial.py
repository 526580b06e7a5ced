"""Adversarial losses: non-saturating GAN with label smoothing, and relativistic average GAN.

Logits may be per image ``(N, 1)`` or per pixel ``(N, 1, H, W)`` (U-Net discriminator); every
element is one decision and losses are means over all of them.

Label smoothing (modified SRGAN): real targets are drawn uniformly from [0.8, 1.2] and fake
targets from [0, 0.2], per decision. Binary cross-entropy with a target ``t > 1`` has no
minimum: ``-t log s - (1 - t) log(1 - s)`` keeps falling as ``s -> 1`` because the second term
turns into a reward, and its gradient ``sigmoid(x) - t`` never vanishes, so real logits would
be pushed to infinity. We therefore read a target above 1 as target 1 with weight ``t``:
each real decision costs ``max(t, 1) * BCE(x, min(t, 1))``, which is bounded below, equals the
plain soft-target BCE for ``t <= 1``, and keeps the paper's extra emphasis on some real samples.

Relativistic average GAN (ESRGAN): the discriminator judges whether a real sample is more
realistic than the average fake and vice versa; the generator gets the mirrored loss. The
means over the opposite set are detached where the network being updated should not receive
gradient through them, as in common ESRGAN training code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError

__all__ = ["gan_loss_d", "gan_loss_g", "smoothed_targets"]

_KINDS = ("ns", "relativistic")


def _check(kind: str) -> None:
    if kind not in _KINDS:
        raise InputError(f"GAN kind must be one of {_KINDS}, got {kind!r}")


def smoothed_targets(
    like: torch.Tensor, low: float, high: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Targets drawn uniformly from ``[low, high]``, one per element of ``like``.

    Drawn with ``generator`` (torch's default generator when None), on the generator's
    device, then moved to ``like``'s device.
    """
    device = generator.device if generator is not None else like.device
    u = torch.rand(like.shape, generator=generator, device=device, dtype=like.dtype)
    return (low + (high - low) * u).to(like.device)


def _weighted_bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean of ``max(t, 1) * BCE(x, min(t, 1))``: soft-target BCE, bounded for ``t > 1``."""
    weight = targets.clamp(min=1.0)
    return (
        weight
        * F.binary_cross_entropy_with_logits(logits, targets.clamp(max=1.0), reduction="none")
    ).mean()


def gan_loss_d(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    kind: str = "ns",
    smoothing: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Discriminator loss.

    Parameters
    ----------
    real_logits, fake_logits : torch.Tensor
        Discriminator outputs on HR and (detached) SR images.
    kind : {"ns", "relativistic"}
        Non-saturating (binary cross-entropy) or relativistic average GAN.
    smoothing : bool
        For ``"ns"`` only: random soft labels (real in [0.8, 1.2], fake in [0, 0.2]) drawn
        with ``generator``. The relativistic loss uses hard labels.
    generator : torch.Generator, optional
        Source of the soft labels.

    Returns
    -------
    torch.Tensor
        Scalar loss: mean of the real and fake terms.
    """
    _check(kind)
    if kind == "relativistic":
        real_rel = real_logits - fake_logits.mean().detach()
        fake_rel = fake_logits - real_logits.mean().detach()
        loss_real = F.binary_cross_entropy_with_logits(real_rel, torch.ones_like(real_rel))
        loss_fake = F.binary_cross_entropy_with_logits(fake_rel, torch.zeros_like(fake_rel))
        return 0.5 * (loss_real + loss_fake)
    if smoothing:
        t_real = smoothed_targets(real_logits, 0.8, 1.2, generator)
        t_fake = smoothed_targets(fake_logits, 0.0, 0.2, generator)
    else:
        t_real, t_fake = torch.ones_like(real_logits), torch.zeros_like(fake_logits)
    return 0.5 * (_weighted_bce(real_logits, t_real) + _weighted_bce(fake_logits, t_fake))


def gan_loss_g(
    real_logits: torch.Tensor | None, fake_logits: torch.Tensor, kind: str = "ns"
) -> torch.Tensor:
    """Generator adversarial loss.

    ``"ns"``: ``-log sigmoid(D(SR))`` (``real_logits`` unused, may be None).
    ``"relativistic"``: the discriminator's relativistic loss with the roles of real and fake
    swapped; ``real_logits`` are required and are treated as constants.
    """
    _check(kind)
    if kind == "ns":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    if real_logits is None:
        raise InputError("the relativistic generator loss needs the discriminator's real logits")
    real = real_logits.detach()
    real_rel = real - fake_logits.mean()
    fake_rel = fake_logits - real.mean()
    loss_real = F.binary_cross_entropy_with_logits(real_rel, torch.zeros_like(real_rel))
    loss_fake = F.binary_cross_entropy_with_logits(fake_rel, torch.ones_like(fake_rel))
    return 0.5 * (loss_real + loss_fake)
