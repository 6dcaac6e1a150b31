"""Exposure: mean luminance of images and a per-image gain that sets it.

A refiner learns its training data's brightness. On photos of another camera that brightness can be wrong even
where the correction itself helps, so ``PTGRefiner.enhance`` has an exposure control (``exposure=``):

* ``"refiner"``: R's own output, Eq. (1) as is;
* ``"restorer"``: the output scaled so that its mean luminance equals F's output's (R corrects colour, noise and
  local contrast; F decides the brightness);
* a number in (0, 1): the output scaled to that mean luminance.

The same gain gives the "GT-mean" PSNR of low-light enhancement papers (the prediction scaled so that its mean
equals the target's before scoring, which separates exposure from restoration; e.g. Zhang, Zhang, Guo, "Kindling
the Darkness", ACM MM 2019 and Wang et al., "LLFlow", AAAI 2022 report it).

Luminance is Rec. 709 luma of the (non-linear) RGB values, Y = 0.2126 R + 0.7152 G + 0.0722 B.

>>> import torch
>>> x = torch.full((1, 3, 4, 4), 0.2)
>>> round(float(mean_luminance(scale_to_luminance(x, torch.tensor([0.4])))[0]), 4)
0.4
"""
from __future__ import annotations

import torch

LUMA = (0.2126, 0.7152, 0.0722)
EXPOSURE_MODES = ("refiner", "restorer")


def mean_luminance(image: torch.Tensor) -> torch.Tensor:
    """Per-image mean luma of (B,3,H,W) RGB in [0,1]: a (B,) tensor."""
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"mean_luminance expects (B,3,H,W) RGB, got shape {tuple(image.shape)}")
    w = image.new_tensor(LUMA).view(1, 3, 1, 1)
    return (image.float() * w.float()).sum(1).mean(dim=(1, 2))


def scale_to_luminance(image: torch.Tensor, target: torch.Tensor | float) -> torch.Tensor:
    """``image`` times a per-image gain so that its mean luminance is ``target`` ((B,) or a number), clamped to
    [0,1] afterwards (so a bright target can end slightly below itself where pixels saturate). A black image
    (mean 0) is returned unchanged."""
    current = mean_luminance(image)
    target = torch.as_tensor(target, dtype=current.dtype, device=current.device).expand_as(current)
    gain = torch.where(current > 0, target / current.clamp_min(1e-12), torch.ones_like(current))
    return (image * gain.to(image.dtype).view(-1, 1, 1, 1)).clamp(0, 1)


def check_exposure(exposure) -> str | float:
    """``exposure`` if valid ("refiner", "restorer" or a number in (0, 1)), else a ValueError naming the options."""
    if isinstance(exposure, str) and exposure in EXPOSURE_MODES:
        return exposure
    if isinstance(exposure, (int, float)) and not isinstance(exposure, bool) and 0 < float(exposure) < 1:
        return float(exposure)
    raise ValueError(f"exposure must be 'refiner' (R's own brightness), 'restorer' (keep F's mean luminance) or a "
                     f"target mean luminance in (0, 1); got {exposure!r}")


def parse_exposure(text: str) -> str | float:
    """An exposure setting written as text (a command line): ``"refiner"``, ``"restorer"`` or a number, checked by
    :func:`check_exposure` (ValueError naming the options)."""
    try:
        value = text if text in EXPOSURE_MODES else float(text)
    except ValueError:
        value = text  # not a number: check_exposure names the options
    return check_exposure(value)


def apply_exposure(output: torch.Tensor, restored: torch.Tensor, exposure) -> torch.Tensor:
    """The refined ``output`` under an exposure setting (see the module docstring); ``restored`` is F's output."""
    exposure = check_exposure(exposure)
    if exposure == "refiner":
        return output.clamp(0, 1)
    if exposure == "restorer":
        return scale_to_luminance(output.clamp(0, 1), mean_luminance(restored.clamp(0, 1)))
    return scale_to_luminance(output.clamp(0, 1), exposure)


def mean_saturation(image: torch.Tensor) -> torch.Tensor:
    """Per-image mean HSV saturation ((max − min) / max of RGB, 0 where max = 0) of (B,3,H,W) in [0,1]: (B,)."""
    x = image.float().clamp(0, 1)
    mx, mn = x.amax(1), x.amin(1)
    sat = torch.where(mx > 0, (mx - mn) / mx.clamp_min(1e-12), torch.zeros_like(mx))
    return sat.mean(dim=(1, 2))
