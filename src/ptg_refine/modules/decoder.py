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

``resolution="half"`` (R's fast setting, with ``"bilinear"``): R_d goes up to 1/2 resolution only (one bilinear x2
and 3x3 convolution, then the last 3x3 convolution and the heads, all at 1/2), and the six head logits are brought
to full resolution by guided upsampling along the edges of F's output (:mod:`~ptg_refine.modules.guided`).
The full-resolution convolutions of R_d (about 1.3 of the 5.7 GMAC of R at 600x400) become one 2x2 mean, a few
box filters at 1/2 and a multiply-add per pixel.
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..exposure import luminance
from .encoder import RESOLUTIONS
from .guided import GuidedUpsample
from .precision import ends_in_float32


UPSAMPLE_MODES = ("bilinear", "shuffle")


class Decoder(nn.Module):
    """Upsample f̄ (B,c,H/4,W/4) to full resolution and predict I_m ∈ (0,2) and I_r (B,3,H,W).

    ``upsample``: ``"bilinear"`` or ``"shuffle"``; ``resolution``: ``"full"`` or ``"half"`` (see the module
    docstring; ``"half"`` needs the guide, F's output, in :meth:`forward`). ``bound``: None (the paper: I_m =
    2·sigmoid ∈ (0, 2), I_r unbounded) or b ∈ (0, 1]: I_m = 1 + b·tanh(·/2) ∈ 1 ± b and I_r = b·tanh(·/b)
    ∈ ± b,
    so R can change F's output by at most about b·|F − I_d| + b per pixel (a do-no-harm setting)."""

    def __init__(self, width: int = 16, upsample: str = "bilinear", resolution: str = "full",
                 bound: float | None = None):
        super().__init__()
        if bound is not None and not 0 < bound <= 1:
            raise ValueError(f"bound must be None or in (0, 1], got {bound!r}")
        self.bound = bound
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
        if resolution == "half" and upsample != "bilinear":
            raise ValueError("resolution='half' goes with upsample='bilinear'")
        c = width
        self.guided = GuidedUpsample() if resolution == "half" else None
        if resolution == "half":
            up = [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.Conv2d(c, c, 3, padding=1),
                  nn.LeakyReLU(0.1)]
        elif upsample == "shuffle":
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

    def forward(self, f_bar, guide=None):
        """f̄ -> (I_m, I_r); ``guide`` (B,3,H,W): F's output at the padded size, needed with resolution "half"."""
        z = self.body(f_bar)
        # both heads as one 6-channel convolution: one pass over z instead of two
        weight = torch.cat([self.mask_head.weight, self.residual_head.weight])
        bias = torch.cat([self.mask_head.bias, self.residual_head.bias])
        if self.guided is not None and guide is None:
            raise ValueError("R_d at resolution 'half' needs guide=F's output (B,3,H,W)")
        if ends_in_float32(z):  # reduced-precision inference: the heads in float32 (precision.py)
            with torch.autocast(z.device.type, enabled=False):
                heads = F.conv2d(z.float(), weight.float(), bias.float(), padding=1)
        else:
            heads = F.conv2d(z, weight, bias, padding=1)
        if self.guided is not None:  # (in float32 on every path: guided_upsample)
            heads = self.guided(heads, luminance(guide)[:, None])
        if self.bound is None:
            return 2 * torch.sigmoid(heads[:, :3]), heads[:, 3:]
        # bounded corrections: I_m in 1 ± b, I_r in ± b (both 0-centred tanh: still the identity at initialisation)
        b = self.bound
        return 1 + b * torch.tanh(heads[:, :3] / 2), b * torch.tanh(heads[:, 3:] / b)

