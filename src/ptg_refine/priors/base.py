"""The common shape of a prior G: (B,3,H,W) in [0,1] -> L2-normalised (B,D) features (PTG-RM's g)."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._frozen import freeze, use_callers
from .._validation import check_image

DEFAULT = "default"  # sentinel for ``pretrained``: the prior's own default weights (see PriorConfig.default_weights)


class ImagePrior(nn.Module):
    """Wrap a frozen backbone that maps a normalised (B,3,h,w) batch to (B,D) features.

    The whole image is resized (bilinear, antialiased, aspect ratio not kept) to ``input_size``,
    normalised with ``mean``/``std``, encoded, and the result L2-normalised along D.
    """

    def __init__(self, backbone: nn.Module, feature_dim: int, input_size: Sequence[int],
                 mean: Sequence[float], std: Sequence[float], name: str = "custom"):
        super().__init__()
        self.backbone = freeze(backbone)
        self.feature_dim = int(feature_dim)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.name = name
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False, antialias=True)
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "prior input", min_size=1)
        feats = self.backbone(self.preprocess(x))
        return F.normalize(feats.flatten(1).float(), dim=1).to(x.dtype)

    # -- feature maps (timm's feature_info / forward_intermediates) ------------------------------------
    def _stages(self, reductions: Sequence[int]) -> list[int]:
        """Indices of the backbone's last stage of each stride in ``reductions``."""
        info = getattr(self.backbone, "feature_info", None)
        if info is None or not hasattr(self.backbone, "forward_intermediates"):
            raise NotImplementedError(
                f"prior {self.name!r} has no dense feature maps: dense priors need a timm backbone with "
                "forward_intermediates (efficientnet_lite0, timm:<name>); use prior_mode='global' for this prior")
        found = [int(f["reduction"]) for f in info]
        missing = [r for r in reductions if r not in found]
        if missing:
            raise NotImplementedError(f"prior {self.name!r} has no feature stages of stride {missing}")
        return [max(i for i, r in enumerate(found) if r == red) for red in reductions]

    def feature_channels(self, reductions: Sequence[int]) -> list[int]:
        """Channels of the maps :meth:`feature_maps` gives for ``reductions`` (strides), in order; a backbone
        without such stages raises NotImplementedError."""
        return [int(self.backbone.feature_info[i]["num_chs"]) for i in self._stages(reductions)]

    def feature_maps(self, x: torch.Tensor, reductions: Sequence[int]) -> list[torch.Tensor]:
        """The backbone's feature maps of ``x`` (B,3,H,W) in [0,1] at strides ``reductions``: ``x`` at its own
        size (not resized), normalised with the prior's mean / std; the maps as the backbone gives them.
        Differentiable in ``x`` (the weights stay frozen)."""
        idx = self._stages(reductions)
        z = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        return self.backbone.forward_intermediates(z, indices=idx, intermediates_only=True)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, feature_dim={self.feature_dim}, input_size={self.input_size}"


class ZeroPrior(nn.Module):
    """The no-prior ablation: g = 0 for every image (PTG-RM without off-the-shelf features)."""

    def __init__(self, feature_dim: int = 512):
        super().__init__()
        self.feature_dim = int(feature_dim)
        self.name = "none"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "prior input", min_size=1)
        return x.new_zeros(x.shape[0], self.feature_dim)

    def extra_repr(self) -> str:
        return f"feature_dim={self.feature_dim}"


class CallablePrior(nn.Module):
    """A user prior: any nn.Module or callable mapping (B,3,H,W) in [0,1] to (B,D); the output is
    checked and L2-normalised. The user's callable does its own resizing / normalisation."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], feature_dim: int | None = None):
        super().__init__()
        if isinstance(fn, nn.Module):
            self.fn = use_callers(fn)
        else:
            self._fn = fn
        self.name = "custom"
        if feature_dim is None:
            feature_dim = next((int(getattr(fn, a)) for a in ("feature_dim", "output_dim", "num_features")
                                if isinstance(getattr(fn, a, None), int)), None)
        if feature_dim is None:  # probe once on a small grey image
            device = next((p.device for p in fn.parameters()), None) if isinstance(fn, nn.Module) else None
            with torch.no_grad():
                feature_dim = self._call(torch.full((1, 3, 224, 224), 0.5, device=device)).shape[1]
        self.feature_dim = int(feature_dim)

    def _call(self, x):
        out = self.fn(x) if hasattr(self, "fn") else self._fn(x)
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != x.shape[0]:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"a custom prior must return a (B,D) tensor for a (B,3,H,W) input, got {shape}")
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "prior input", min_size=1)
        return F.normalize(self._call(x).float(), dim=1).to(x.dtype)
