"""Helpers for tests and benchmarks of code that uses R (like ``torch.testing``): not needed to refine images.

A fresh R is the identity on F's output, so a test that compares two ways of running R, or a saved and a
loaded R, needs an R that is not at its init: :func:`trained_looking` (the zero output heads re-drawn) or
:func:`perturb_` (every parameter moved).
"""
from __future__ import annotations

import torch
from torch import nn

from .modules import RefinementNetwork


def trained_looking(net: RefinementNetwork | None = None, seed: int = 0, **kwargs) -> RefinementNetwork:
    """R in eval mode whose zero-initialised output layers (the mask / residual heads of R_d and, with a dense
    prior path, the SFT γ/β heads) get PyTorch's default random init, drawn from ``seed``.

    A new R returns F's output exactly (Eq. 1 with I_m = I_r = 0), whatever its inputs, which would make every
    comparison of two ways of running R pass trivially; this one changes its input and depends on g, the
    positions and the dense maps. ``net``: the network to change in place, or None to build
    ``RefinementNetwork(**kwargs)`` (its other weights also drawn from ``seed``).

    >>> net = trained_looking(prior_dim=8, width=8, num_blocks=1)
    >>> low = torch.rand(1, 3, 32, 32)
    >>> bool((net(low, low.sqrt(), torch.zeros(1, 8)) - low.sqrt()).abs().max() > 1e-3)
    True
    """
    torch.manual_seed(seed)
    if net is None:
        net = RefinementNetwork(**kwargs)
    elif kwargs:
        raise TypeError(f"trained_looking: pass either a network or RefinementNetwork arguments, not both: {kwargs}")
    heads: list[nn.Module] = [net.decoder.mask_head, net.decoder.residual_head]
    if net.dense_prior is not None:
        heads += [net.dense_prior.head_in, net.dense_prior.head_out]
    for head in heads:
        head.reset_parameters()
    return net.eval()


def perturb_(module: nn.Module, scale: float = 0.05) -> nn.Module:
    """Add Gaussian noise of std ``scale`` to every parameter of ``module`` in place (from torch's global RNG), so
    that no weight equals its init: a checkpoint round trip or a parameter-by-parameter comparison then checks
    real values. Returns ``module``."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * scale)
    return module


def disk_full_on_call(func, call: int = 2):
    """``func`` wrapped so that its ``call``-th call fails as safetensors reports a full disk (a SafetensorError
    carrying "os error 28") and every other call goes through: for tests and fault cases of the checkpoint
    writer (e.g. ``monkeypatch.setattr(ptg_refine._safe_state, "save_file", disk_full_on_call(save_file))``)."""
    from safetensors import SafetensorError

    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        return func(*args, **kwargs)

    return wrapper
