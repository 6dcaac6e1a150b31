"""R_d and the two output heads of PTG-RM: [I_m, I_r] = R_d(f̄) (Xu et al., CVPR 2024, Eq. 1).

The authors' release has only the residual head; we add the mask head of the paper's Eq. 1.
Both heads are zero-initialised, so I_m = 2·sigmoid(0) = 1 and I_r = 0: a new refiner returns F's output.
"""
import torch
import torch.nn.functional as F
from torch import nn

from .precision import ends_in_float32


class Decoder(nn.Module):
    """Upsample f̄ (B,c,H/4,W/4) to full resolution and predict I_m ∈ (0,2) and I_r (B,3,H,W)."""

    def __init__(self, width: int = 16):
        super().__init__()
        c = width
        self.body = nn.Sequential(
            nn.Conv2d(c, 4 * c, 3, padding=1), nn.PixelShuffle(2), nn.LeakyReLU(0.1),
            nn.Conv2d(c, 4 * c, 3, padding=1), nn.PixelShuffle(2), nn.LeakyReLU(0.1),
            nn.Conv2d(c, c, 3, padding=1), nn.LeakyReLU(0.1),
        )
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
