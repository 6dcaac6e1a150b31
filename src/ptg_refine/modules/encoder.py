"""R_e: the encoder of PTG-RM (Xu et al., CVPR 2024, Sec. 3.1): f = R_e(Î_c ⊕ I_d)."""
import torch
import torch.nn.functional as F
from torch import nn

from .global_stats import GlobalInstanceNorm2d
from .precision import ends_in_float32

RESOLUTIONS = ("full", "half")


class Encoder(nn.Sequential):
    """Map concat(restored, low) (B,6,H,W) to latent features f (B,c,H/4,W/4).

    Layer sizes follow the authors' release: conv3x3 6→c, InstanceNorm, LeakyReLU(0.1),
    conv3x3/2, InstanceNorm, conv3x3/2. H and W must be multiples of 4 (the refiner pads).
    The InstanceNorms can take whole-image statistics when R runs tile by tile (see global_stats.py).

    ``resolution="half"`` (R's fast setting): the images are first averaged 2x2, the first convolution and
    InstanceNorm run at half resolution and the last convolution has stride 1, so f is still (B,c,H/4,W/4) with
    the same parameters and a quarter of the full-resolution work.
    """

    def __init__(self, width: int = 16, resolution: str = "full"):
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
        c = width
        super().__init__(
            nn.Conv2d(6, c, 3, padding=1),
            GlobalInstanceNorm2d(c, affine=True),
            nn.LeakyReLU(0.1),
            nn.Conv2d(c, c, 3, stride=2, padding=1),
            GlobalInstanceNorm2d(c, affine=True),
            nn.Conv2d(c, c, 3, stride=1 if resolution == "half" else 2, padding=1),
        )
        self.resolution = resolution

    def forward(self, x):
        if self.resolution == "half":
            x = F.avg_pool2d(x, 2)
        if ends_in_float32(x):  # reduced-precision inference: R_e reads the images in float32 (precision.py)
            with torch.autocast(x.device.type, enabled=False):
                f = super().forward(x.float())
            # and the latent in channels-last: oneDNN's bfloat16 convolutions of PTG-SVE / PTG-CSA are ~20 % faster
            return f.contiguous(memory_format=torch.channels_last)
        return super().forward(x)
