"""Input checks shared by every public entry point (explicit errors instead of silent fixes)."""
from __future__ import annotations

import torch

MIN_SIZE = 16


def check_image(x, name: str = "input", min_size: int = MIN_SIZE, check_range: bool = True) -> torch.Tensor:
    """Check that ``x`` is a float (B,3,H,W) image batch in [0,1] without NaN/Inf.

    Raises TypeError for non-tensors / non-float dtypes and ValueError for everything else,
    each message saying what was expected.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B,3,H,W), got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise TypeError(
            f"{name} must be a floating-point tensor with values in [0,1], got dtype {x.dtype}; "
            "convert 8-bit images with x.float() / 255"
        )
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (B,3,H,W) (rank 4), got rank {x.ndim} shape {tuple(x.shape)}")
    if x.shape[1] != 3:
        raise ValueError(f"{name} must have 3 (RGB) channels in dim 1, got {x.shape[1]} (shape {tuple(x.shape)})")
    h, w = x.shape[-2:]
    if h < min_size or w < min_size:
        raise ValueError(f"{name} must be at least {min_size}x{min_size} pixels, got {h}x{w}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} has an empty batch (B=0)")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or Inf values")
    if check_range:
        lo, hi = float(x.min()), float(x.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(f"{name} values must lie in [0,1], got range [{lo:.4g}, {hi:.4g}]")
    return x


def check_same_batch(ref: torch.Tensor, other: torch.Tensor, name: str, ref_name: str = "low") -> None:
    if other.shape[0] != ref.shape[0]:
        raise ValueError(f"{name} has batch size {other.shape[0]} but {ref_name} has {ref.shape[0]}; they must match")


def check_features(g, batch: int, dim: int, name: str = "prior_features") -> torch.Tensor:
    """Check a (B,D) prior-feature tensor."""
    if not isinstance(g, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B,{dim}), got {type(g).__name__}")
    if not torch.is_floating_point(g):
        raise TypeError(f"{name} must be floating point, got dtype {g.dtype}")
    if g.ndim != 2 or g.shape[1] != dim:
        raise ValueError(f"{name} must have shape (B,{dim}) (the refiner's prior_dim), got {tuple(g.shape)}")
    if g.shape[0] != batch:
        raise ValueError(f"{name} has batch size {g.shape[0]} but low has {batch}; they must match")
    if not torch.isfinite(g).all():
        raise ValueError(f"{name} contains NaN or Inf values")
    return g
