"""Eq. 1 of PTG-RM (Xu et al., CVPR 2024): Ī_c = I_d + (Î_c − I_d) · I_m + I_r."""
import torch


def compose_output(low: torch.Tensor, restored: torch.Tensor, mask: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """Eq. 1, written as Î_c + (Î_c − I_d)(I_m − 1) + I_r (the same value) so that I_m = 1, I_r = 0
    returns Î_c bit-exactly. Not clamped: training needs the gradient everywhere."""
    return restored + (restored - low) * (mask - 1) + residual
