"""Loss functions: pixel, SSIM, DPF content, VGG19 features, adversarial, and their builder."""

from __future__ import annotations

from .adversarial import gan_loss_d, gan_loss_g, smoothed_targets
from .builder import LOSS_KEYS, GeneratorLoss, build_discriminator_loss, build_generator_loss
from .pixel import DPFContentLoss, pixel_loss, ssim, ssim_loss
from .vgg import VGG19_LAYERS, VGGFeatureLoss, build_feature_loss, load_vgg19_state

__all__ = [
    "DPFContentLoss",
    "GeneratorLoss",
    "LOSS_KEYS",
    "VGG19_LAYERS",
    "VGGFeatureLoss",
    "build_discriminator_loss",
    "build_feature_loss",
    "build_generator_loss",
    "gan_loss_d",
    "gan_loss_g",
    "load_vgg19_state",
    "pixel_loss",
    "smoothed_targets",
    "ssim",
    "ssim_loss",
]
