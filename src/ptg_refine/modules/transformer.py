"""The long-range block of R_l: Restormer-style transposed attention (Zamir et al., CVPR 2022).

Attention is computed between *channels* (a c x c map per head), so cost is linear in the number of
pixels, as PTG-RM's release uses for R_l (Xu et al., CVPR 2024, Eq. 3). Reshapes are written with
plain ``reshape`` so the block exports to ONNX.
"""
import torch
import torch.nn.functional as F
from torch import nn

from .global_stats import GlobalStatistics


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel dimension of a (B,C,H,W) map."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        return (x - mu) / torch.sqrt(var + self.eps) * self.weight[:, None, None] + self.bias[:, None, None]


class ChannelAttention(GlobalStatistics, nn.Module):
    """Multi-head transposed self-attention (MDTA): softmax(q̂ k̂ᵀ · τ) v over channels.

    q̂k̂ᵀ spans the whole image; tiles get the whole image's value
    through ``stats_context`` (:class:`~.global_stats.GlobalStatistics`).
    """

    def __init__(self, channels: int, heads: int = 1):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(channels, channels * 3, 1, bias=False)
        self.qkv_dw = nn.Conv2d(channels * 3, channels * 3, 3, padding=1, groups=channels * 3, bias=False)
        self.proj = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, x):
        b, c, h, w = x.shape
        qkv = self.qkv_dw(self.qkv(x))
        q, k, v = qkv.chunk(3, dim=1)
        if self.stats_context is None:
            q = F.normalize(q.reshape(b, self.heads, c // self.heads, h * w), dim=-1)
            k = F.normalize(k.reshape(b, self.heads, c // self.heads, h * w), dim=-1)
            logits = q @ k.transpose(-2, -1)
        else:  # q̂k̂ᵀ of the whole image: Σ q kᵀ / (‖q‖ ‖k‖), from sums over all tiles
            logits, = self.stats_context.resolve(self, qkv, self._gram_sums, _cosine)
        v = v.reshape(b, self.heads, c // self.heads, h * w)
        attn = torch.softmax(logits * self.temperature, dim=-1)
        return self.proj((attn @ v).reshape(b, c, h, w))

    def _gram_sums(self, qkv):
        b, c = qkv.shape[0], qkv.shape[1] // 3
        q, k = qkv[:, :2 * c].double().reshape(b, 2, self.heads, c // self.heads, -1).unbind(1)
        return q @ k.transpose(-2, -1), q.square().sum(-1), k.square().sum(-1)


def _cosine(gram, qq, kk, eps: float = 1e-12):
    """Σ q kᵀ / (max(‖q‖, eps) max(‖k‖, eps)): what F.normalize(q) @ F.normalize(k)ᵀ gives."""
    return (gram / (qq.sqrt().clamp_min(eps)[..., :, None] * kk.sqrt().clamp_min(eps)[..., None, :]),)


class GatedFeedForward(nn.Module):
    """Gated depthwise-conv feed-forward (GDFN): GELU(x1) * x2 with expansion 2.66."""

    def __init__(self, channels: int, expansion: float = 2.66):
        super().__init__()
        hidden = int(channels * expansion)
        self.project_in = nn.Conv2d(channels, hidden * 2, 1, bias=False)
        self.dw = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2, bias=False)
        self.project_out = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x):
        x1, x2 = self.dw(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(x1) * x2)


class TransformerBlock(nn.Module):
    """x + Attn(LN(x)), then + FFN(LN(x))."""

    def __init__(self, channels: int, heads: int = 1, expansion: float = 2.66):
        super().__init__()
        self.norm1 = ChannelLayerNorm(channels)
        self.attn = ChannelAttention(channels, heads)
        self.norm2 = ChannelLayerNorm(channels)
        self.ffn = GatedFeedForward(channels, expansion)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))
