"""Wrap an arbitrary frozen network with PTG-RM and take a few fine-tuning steps on R only.

    python examples/wrap_your_model.py

Uses a toy 'restorer' (a small conv net standing in for your model), the no-prior ablation `none` so it
runs offline in seconds (use prior="clip" or "efficientnet_lite0" for a real prior), and synthetic
(darkened) copies of random smooth images as training pairs.
"""
import torch
import torch.nn.functional as F
from torch import nn

from ptg_refine import PTGRefiner


class MyRestorer(nn.Module):
    """Stand-in for your frozen enhancer: brightens with a fixed curve and blurs a little."""

    def forward(self, x):
        return F.avg_pool2d(x.clamp(0, 1) ** 0.6, 3, stride=1, padding=1, count_include_pad=False)


def synthetic_pair(batch=4, size=64):
    clean = F.interpolate(torch.rand(batch, 3, size // 8, size // 8), size=(size, size), mode="bicubic").clamp(0, 1)
    return (clean * 0.3) ** 1.2, clean  # (low, target): a synthetic darkening


def main(steps: int = 30, out_dir: str = "runs/wrap_example"):
    torch.manual_seed(0)
    refiner = PTGRefiner(restorer=MyRestorer(), prior="none")     # F frozen, R trainable
    opt = torch.optim.AdamW(refiner.parameters(), lr=2e-3)         # parameters() are R's only
    refiner.train()
    for _ in range(steps):
        low, target = synthetic_pair()
        loss = F.l1_loss(refiner(low), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    low, target = synthetic_pair()  # a held-out batch
    refiner.eval()
    with torch.no_grad():
        f_loss, fr_loss = F.l1_loss(refiner.restore(low), target).item(), F.l1_loss(refiner(low), target).item()
    print(f"held-out L1: F alone {f_loss:.4f} -> F+R after {steps} steps {fr_loss:.4f}")
    refiner.save_pretrained(out_dir)  # config.json + model.safetensors (R only)
    return f_loss, fr_loss


if __name__ == "__main__":
    main()
