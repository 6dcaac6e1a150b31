"""Exposure: mean luminance of images and a per-image gain that sets it.

A refiner learns its training data's brightness. On photos of another camera that brightness can be wrong even
where the correction itself helps, so ``PTGRefiner.enhance`` has an exposure control (``exposure=``):

* ``"refiner"``: R's own output, Eq. (1) as is;
* ``"restorer"``: the output scaled so that its mean luminance equals F's output's (R corrects colour, noise and
  local contrast; F decides the brightness);
* a number in (0, 1): the output scaled to that mean luminance;
* ``"scene"``: a target mean luminance predicted from the INPUT image (:func:`scene_target`), reached by a tone
  curve that keeps the output's black level and rolls the highlights off (:func:`tone_to_luminance` with
  ``black=None``) instead of a gain then a clamp; an input already at or above its predicted target is not
  brightened (the output gets the input's own mean luminance, by a gain below 1 where F + R is brighter).

A fixed target treats every scene alike: it pushes a night shot to daylight brightness, the gain lifts (and colours)
the blacks, and the clamp clips the lights. ``"scene"`` takes the target from the input's median luminance (a dark
scene gets a darker target; the constants were fitted on real pairs), and its curve reaches the target from the
black level up without clipping (``benchmarks/exposure_policy.py`` measures it).

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

import math

import torch

LUMA = (0.2126, 0.7152, 0.0722)
EXPOSURE_MODES = ("refiner", "restorer", "scene")
DEFAULT_EXPOSURE = "refiner"  # the one default of every exposure setting (RefinerConfig, the CLI, the index)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """Rec. 709 luma of (B,3,H,W) RGB in [0,1] (clamped first): (B,H,W)."""
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"luminance expects (B,3,H,W) RGB, got shape {tuple(image.shape)}")
    x = image.float().clamp(0, 1)
    return (x * x.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1)


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


# "scene": log(target mean luminance) = SCENE_LOG_A + SCENE_B * log(input median luminance), at most SCENE_MAX and
# never below the input's own mean luminance. Fitted on REAL pairs only, the train parts: LOL-v1 (436 pairs of
# data/lol_v1_train, split_every(..., 10)[0]) and IR-RGB (63 pairs of real_pairs/ir_rgb/train): the low image's
# median luminance against the target's mean luminance, weighted least squares on log target with each camera
# weighing half, grid search over (a, b, cap), by `python -m benchmarks exposure-policy --fit` (weighted mean
# squared log error 0.0546; the val parts are for reporting). The median, not the mean: a night shot's few lights
# raise its mean, not its median.
SCENE_LOG_A = 0.48
SCENE_B = 0.375
SCENE_MAX = 0.5
SCENE_MIN_INPUT = 1e-3  # input medians below this count as this (a black frame gets a finite target)
# The "scene" tone curve: linear (a plain gain from the output's own black level) up to this output value, then a
# roll-off to 1. Chosen among 0.75, 0.6, 0.5 and 0.4 on the val parts' sci-none outputs (not fitted on train):
# lower knees scored higher PSNR with the same black level and fewer clipped pixels (benchmarks/exposure_policy.py).
KNEE = 0.4


def scene_target(low: torch.Tensor) -> torch.Tensor:
    """The "scene" target mean luminance of each input image of (B,3,H,W) ``low`` in [0,1]: (B,).

    ``min(SCENE_MAX, exp(SCENE_LOG_A) * median ** SCENE_B)`` with ``median`` the input's median luminance, and at
    least the input's mean luminance: an input at or above its predicted target keeps its own brightness (a
    well-exposed photo is not brightened)."""
    median = luminance_quantile(low, 0.5)
    pred = (SCENE_LOG_A + SCENE_B * median.clamp_min(SCENE_MIN_INPUT).log()).exp().clamp(max=SCENE_MAX)
    return torch.maximum(pred, mean_luminance(low.clamp(0, 1)))


def _knee(u: torch.Tensor, gain: torch.Tensor, knee: float) -> torch.Tensor:
    """The curve of :func:`knee_curve` at u = gain * x (``gain`` >= 1, broadcast against ``u``)."""
    c = (gain - 1) / (gain - knee)
    v = ((u - knee) / (1 - knee)).clamp_min(0)
    return torch.where(u <= knee, u, knee + (1 - knee) * v / (1 + c * v))


def knee_curve(image: torch.Tensor, gain: torch.Tensor | float, knee: float = KNEE,
               black: torch.Tensor | float = 0.0) -> torch.Tensor:
    """A brightening tone curve, per channel, of (B,3,H,W) ``image`` in [0,1] with one ``gain`` >= 1 and one
    ``black`` point in [0, 1) per image ((B,) or numbers). Values up to ``black`` stay as they are; above it, with
    x' = (x - black) / (1 - black): u = gain * x' up to ``knee``, then a roll-off u -> knee + (1 - knee) v / (1 + c v)
    with v = (u - knee) / (1 - knee) and c = (gain - 1) / (gain - knee) (slope 1 at the knee, x = 1 maps to 1), and
    back: black + (1 - black) * curve(x'). Shadows and mid-tones get the plain gain measured from the black point
    (which is not lifted), nothing below 1 reaches 1 (a plain gain clips every x >= 1 / gain), and gain 1 is the
    identity."""
    x = image.clamp(0, 1)
    gain = torch.as_tensor(gain, dtype=x.dtype, device=x.device).reshape(-1).expand(x.shape[0])
    gain = gain.clamp_min(1).view(-1, 1, 1, 1)
    black = torch.as_tensor(black, dtype=x.dtype, device=x.device).reshape(-1).expand(x.shape[0]).view(-1, 1, 1, 1)
    return _black_knee(x, gain, knee, black)


def _black_knee(x: torch.Tensor, gain: torch.Tensor, knee: float, black: torch.Tensor) -> torch.Tensor:
    span = (1 - black).clamp_min(1e-6)
    curved = black + span * _knee(gain * ((x - black) / span).clamp_min(0), gain, knee)
    return torch.where(x <= black, x, curved)


HISTOGRAM_BINS = 4096  # the gain of tone_to_luminance is solved on per-channel histograms of this many bins


def _knee_gain(x: torch.Tensor, target: torch.Tensor, knee: float, black: torch.Tensor, steps: int) -> torch.Tensor:
    """The gain (B,) of :func:`knee_curve` that gives ``x`` (B,3,H,W, in [0,1]) mean luminance ``target`` (B,):
    bisection on log gain over [0, log 1e4], the mean computed from each channel's histogram (the mean value of
    each bin, weighted by its count and the channel's luma weight), so each step costs 3 x HISTOGRAM_BINS
    evaluations instead of one per pixel."""
    b, bins = x.shape[0], HISTOGRAM_BINS
    flat = x.detach().flatten(2).double()  # (B,3,N)
    idx = (flat * (bins - 1)).round().long() + torch.arange(b * 3, device=x.device).view(b, 3, 1) * bins
    counts = torch.bincount(idx.flatten(), minlength=b * 3 * bins).view(b, 3, bins).double()
    sums = torch.bincount(idx.flatten(), weights=flat.flatten(), minlength=b * 3 * bins).view(b, 3, bins)
    values = (sums / counts.clamp_min(1)).flatten(1)  # (B, 3*bins)
    weights = (counts / flat.shape[-1] * flat.new_tensor(LUMA).view(1, 3, 1)).flatten(1)
    target, black = target.double().view(-1, 1), black.double().view(-1, 1)
    lo = torch.zeros_like(target)
    hi = torch.full_like(target, math.log(1e4))
    for _ in range(steps):  # the mean luminance rises with the gain, from the current one (gain 1) towards 1
        mid = (lo + hi) / 2
        gain = mid.exp()
        below = (weights * _black_knee(values, gain, knee, black)).sum(1, keepdim=True) < target
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return ((lo + hi) / 2).exp().view(-1).to(x.dtype)


def tone_to_luminance(image: torch.Tensor, target: torch.Tensor | float, knee: float = KNEE,
                      black: torch.Tensor | float | None = 0.0, steps: int = 40) -> torch.Tensor:
    """``image`` (clamped to [0,1]) brought to mean luminance ``target`` ((B,) or a number) without clipping:
    images brighter than their target get a plain gain below 1 (:func:`scale_to_luminance`), darker ones the
    :func:`knee_curve` whose gain reaches the target (to about 1e-4; ``steps`` bisection steps) from the black
    point ``black`` ((B,) or a number; None: each image's own black level, :func:`black_point`). A black image is
    returned unchanged.

    >>> x = torch.linspace(0, 1, 48).view(1, 3, 4, 4)
    >>> y = tone_to_luminance(x * 0.5, 0.4)
    >>> round(float(mean_luminance(y)[0]), 3), bool(y.max() < 1)
    (0.4, True)
    """
    x = image.clamp(0, 1)
    current = mean_luminance(x)
    target = torch.as_tensor(target, dtype=current.dtype, device=current.device).expand_as(current)
    up = (target > current) & (current > 0)
    down = scale_to_luminance(x, torch.minimum(target, current))
    if not bool(up.any()):
        return down
    black = black_point(x) if black is None else torch.as_tensor(black, dtype=x.dtype, device=x.device)
    black = black.reshape(-1).expand_as(current).clamp(0, 0.5)
    gain = torch.where(up, _knee_gain(x, target, knee, black, steps), torch.ones_like(current))
    return torch.where(up.view(-1, 1, 1, 1), knee_curve(x, gain, knee, black), down)


def luminance_quantile(image: torch.Tensor, q: float) -> torch.Tensor:
    """The ``q``-quantile (lower value) of each image's Rec. 709 luma, (B,3,H,W) in [0,1] -> (B,); any size."""
    y = luminance(image).flatten(1)
    k = min(max(int(q * (y.shape[1] - 1)) + 1, 1), y.shape[1])
    return y.kthvalue(k, dim=1).values


def black_point(image: torch.Tensor) -> torch.Tensor:
    """The black level the "scene" curve keeps: the 1st-percentile luminance of each image, (B,)."""
    return luminance_quantile(image, 0.01)


def check_exposure(exposure) -> str | float:
    """``exposure`` if valid ("refiner", "restorer", "scene" or a number in (0, 1)), else a ValueError naming the
    options."""
    if isinstance(exposure, str) and exposure in EXPOSURE_MODES:
        return exposure
    if isinstance(exposure, (int, float)) and not isinstance(exposure, bool) and 0 < float(exposure) < 1:
        return float(exposure)
    raise ValueError(f"exposure must be 'refiner' (R's own brightness), 'restorer' (keep F's mean luminance), "
                     f"'scene' (a target mean luminance predicted from the input) or a target mean luminance in "
                     f"(0, 1); got {exposure!r}")


def parse_exposure(text: str) -> str | float:
    """An exposure setting written as text (a command line): ``"refiner"``, ``"restorer"``, ``"scene"`` or a number,
    checked by
    :func:`check_exposure` (ValueError naming the options)."""
    try:
        value = text if text in EXPOSURE_MODES else float(text)
    except ValueError:
        value = text  # not a number: check_exposure names the options
    return check_exposure(value)


def apply_exposure(output: torch.Tensor, restored: torch.Tensor, exposure,
                   low: torch.Tensor | None = None) -> torch.Tensor:
    """The refined ``output`` under an exposure setting (see the module docstring); ``restored`` is F's output and
    ``low`` the input image (needed by ``"scene"`` only)."""
    return _apply_exposure(output, restored, check_exposure(exposure), low)


def _apply_exposure(output, restored, exposure, low=None):
    """:func:`apply_exposure` of a checked ``exposure`` (``PTGRefiner.enhance`` checks it once, before any work)."""
    if exposure == "refiner":
        return output.clamp(0, 1)
    if exposure == "restorer":
        return scale_to_luminance(output.clamp(0, 1), mean_luminance(restored.clamp(0, 1)))
    if exposure == "scene":
        if low is None:
            raise ValueError("exposure 'scene' predicts the brightness from the input image: pass low=")
        return tone_to_luminance(output, scene_target(low), black=None)
    return scale_to_luminance(output.clamp(0, 1), exposure)


def mean_saturation(image: torch.Tensor) -> torch.Tensor:
    """Per-image mean HSV saturation ((max − min) / max of RGB, 0 where max = 0) of (B,3,H,W) in [0,1]: (B,)."""
    x = image.float().clamp(0, 1)
    mx, mn = x.amax(1), x.amin(1)
    sat = torch.where(mx > 0, (mx - mn) / mx.clamp_min(1e-12), torch.zeros_like(mx))
    return sat.mean(dim=(1, 2))
