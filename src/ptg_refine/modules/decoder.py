"""R_d and the two output heads of PTG-RM: [I_m, I_r] = R_d(f̄) (Xu et al., CVPR 2024, Eq. 1).

The authors' release has only the residual head; we add the mask head of the paper's Eq. 1.
Both heads are zero-initialised, so I_m = 2·sigmoid(0) = 1 and I_r = 0: a new refiner returns F's output.

Two ways up from 1/4 resolution (``upsample``):

* ``"bilinear"`` (default): bilinear ×2 then a 3x3 convolution, twice. Shift-invariant up to the bilinear
  weights, so a constant latent gives constant maps and no pixel phase is favoured: I_m and I_r carry no
  periodic pattern (Odena, Dumoulin, Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016).
* ``"shuffle"``: a 3x3 convolution to 4c channels then PixelShuffle(2), twice (sub-pixel convolution, Shi et al.,
  CVPR 2016), the layout of the refiners trained before this option existed. Each of the 2x2 output phases has
  its own filters; trained, they drift apart and leave a period-2 texture in I_r (measured: the share of the
  luminance spectrum at the horizontal Nyquist frequency of I_r was 0.54 for the shipped ``sci-none`` on a DICM
  night photo; benchmarks/real_pairs.py measures it on every real set).

Both have the same multiply-adds per pixel (a c→4c convolution at 1/4 resolution equals a c→c one at 1/2).
"""
import torch
import torch.nn.functional as F
from torch import nn

from .precision import ends_in_float32


UPSAMPLE_MODES = ("bilinear", "shuffle")


class Decoder(nn.Module):
    """Upsample f̄ (B,c,H/4,W/4) to full resolution and predict I_m ∈ (0,2) and I_r (B,3,H,W).

    ``upsample``: ``"bilinear"`` or ``"shuffle"`` (see the module docstring)."""

    def __init__(self, width: int = 16, upsample: str = "bilinear"):
        super().__init__()
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
        c = width
        if upsample == "shuffle":
            up = [nn.Conv2d(c, 4 * c, 3, padding=1), nn.PixelShuffle(2), nn.LeakyReLU(0.1),
                  nn.Conv2d(c, 4 * c, 3, padding=1), nn.PixelShuffle(2), nn.LeakyReLU(0.1)]
        else:
            up = [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.Conv2d(c, c, 3, padding=1),
                  nn.LeakyReLU(0.1),
                  nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.Conv2d(c, c, 3, padding=1),
                  nn.LeakyReLU(0.1)]
        self.body = nn.Sequential(*up, nn.Conv2d(c, c, 3, padding=1), nn.LeakyReLU(0.1))
        self.mask_head = nn.Conv2d(c, 3, 3, padding=1)
        self.residual_head = nn.Conv2d(c, 3, 3, padding=1)
        for head in (self.mask_head, self.residual_head):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(self, f_bar):
        z = self.body(f_bar)
        # both heads as one 6-channel convolution: one pass over z instead of two
        weight = torch.cat([self.mask_head.weight, self.residual_head.weight])
        bias = torch.cat([self.mask_head.bias, self.residual_head.bias])
        if ends_in_float32(z):  # reduced-precision inference: the heads in float32 (precision.py)
            with torch.autocast(z.device.type, enabled=False):
                heads = F.conv2d(z.float(), weight.float(), bias.float(), padding=1)
        else:
            heads = F.conv2d(z, weight, bias, padding=1)
        return 2 * torch.sigmoid(heads[:, :3]), heads[:, 3:]
