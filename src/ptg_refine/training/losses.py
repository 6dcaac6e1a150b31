"""Training losses of R (and, in joint mode, of F): PTG-RM, Xu et al., CVPR 2024.

* :func:`refinement_loss` — L(·, T) = Charbonnier (Charbonnier et al., ICIP 1994; as in the release)
  + ``ssim_weight``·(1 − SSIM) (Wang et al., IEEE TIP 2004; pytorch-msssim).
* :func:`joint_loss` — the paper's Eq. 8 for fine-tuning F and R together.
* :func:`identity_penalty` — a do-no-harm regulariser: mean |I_m − 1| + mean |I_r|, which keeps R's correction
  small (Eq. 1 returns F's output at I_m = 1, I_r = 0) unless the data pay for it.
* :func:`feature_distance` — an optional perceptual term (Johnson et al., ECCV 2016) with the frozen pre-trained
  prior as the feature extractor.
"""
from __future__ import annotations

import torch
from pytorch_msssim import ssim as _ssim


def charbonnier(pred, target, eps: float = 1e-3):
    """mean(sqrt((pred − target)² + eps²)) (Charbonnier et al., ICIP 1994)."""
    return torch.sqrt((pred - target) ** 2 + eps * eps).mean()


def refinement_loss(pred, target, ssim_weight: float = 0.1, eps: float = 1e-3):
    """Charbonnier + ssim_weight·(1 − SSIM); SSIM (11x11 Gaussian, sigma 1.5) on pred clamped to [0,1]."""
    loss = charbonnier(pred, target, eps)
    if ssim_weight:
        loss = loss + ssim_weight * (1 - _ssim(pred.clamp(0, 1), target, data_range=1.0))
    return loss


def joint_loss(restored, refined, target, weight: float = 1.0, ssim_weight: float = 0.1, eps: float = 1e-3,
               refined_extra=None):
    """Eq. 8 of PTG-RM (Xu et al., CVPR 2024), for fine-tuning F together with R:

        L_joint = L(Î_c, T) + λ · L(Ī_c, T)

    with Î_c = F(I_d) (``restored``), Ī_c = R's output by Eq. 1 (``refined``), T the target, λ = ``weight``
    (``TrainConfig.joint_weight``) and L = :func:`refinement_loss` (``ssim_weight``, ``eps``). F's own term keeps
    F a good restorer on its own while R learns to refine it. ``refined_extra``: a further term of the refined
    output's loss (e.g. the weighted :func:`feature_distance`), added to L(Ī_c, T) inside the λ product.
    """
    refined_term = refinement_loss(refined, target, ssim_weight, eps)
    if refined_extra is not None:
        refined_term = refined_term + refined_extra
    return refinement_loss(restored, target, ssim_weight, eps) + weight * refined_term


def feature_distance(prior, pred, target) -> torch.Tensor:
    """Mean over the stride-8/16/32 stages of the L1 distance between the frozen backbone's channel-normalised
    maps of ``pred`` (clamped to [0,1]) and ``target``: a perceptual loss (Johnson et al., ECCV 2016) with the
    pre-trained prior as the feature extractor; gradients flow to ``pred`` only."""
    from ..priors.dense import feature_maps

    with torch.no_grad():
        ref = feature_maps(prior, target)
    got = feature_maps(prior, pred.clamp(0, 1))
    return sum((a - b).abs().mean() for a, b in zip(got, ref)) / len(ref)


def identity_penalty(mask, residual) -> torch.Tensor:
    """mean |I_m − 1| + mean |I_r|: zero exactly where Eq. 1 returns F's output (I_m = 1, I_r = 0)."""
    return (mask - 1).abs().mean() + residual.abs().mean()
