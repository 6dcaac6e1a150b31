"""Subnormal floats, in one place: arithmetic on them takes a slow path on many x86 CPUs (microcode), so the
restorers' weights are flushed when loaded and R's weights and activations should hold none (see
shared/specs/README.md on the baselines' checkpoints)."""
from __future__ import annotations

import torch
from torch import nn
from torch.overrides import TorchFunctionMode


def subnormal_mask(t: torch.Tensor) -> torch.Tensor:
    """Where ``t`` (floating point) holds a nonzero value with |x| < finfo(dtype).tiny."""
    return (t != 0) & (t.abs() < torch.finfo(t.dtype).tiny)


def _float_tensors(obj: nn.Module | dict[str, torch.Tensor]) -> list[torch.Tensor]:
    tensors = obj.values() if isinstance(obj, dict) else [*obj.parameters(), *obj.buffers()]
    return [t for t in tensors if t.is_floating_point()]


def flush_subnormals_(obj: nn.Module | dict[str, torch.Tensor]) -> int:
    """Set every nonzero float weight with |w| < finfo.tiny (a subnormal) to exactly 0, in place.

    Several public checkpoints hold thousands of subnormals that make x86 CPU convolutions 4-40x
    slower (``torch.set_flush_denormal`` does not help for Zero-DCE); zeroing them leaves the outputs
    unchanged on the reference images (see ``shared/specs/README.md``). Accepts a module (parameters
    and buffers) or a state_dict; returns the number of values changed.
    """
    count = 0
    with torch.no_grad():
        for t in _float_tensors(obj):
            mask = subnormal_mask(t)
            count += int(mask.sum())
            t.masked_fill_(mask, 0)
    return count


def count_subnormals(obj: nn.Module | dict[str, torch.Tensor]) -> int:
    """Number of nonzero subnormal float values in a module's parameters and buffers (or a state_dict)."""
    return sum(int(subnormal_mask(t).sum()) for t in _float_tensors(obj))


class SubnormalCounter(TorchFunctionMode):
    """Counts nonzero |x| < finfo(float32).tiny in every float32 tensor produced by a torch function."""

    def __init__(self):
        super().__init__()
        self.subnormal = self.values = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.dtype == torch.float32:
                self.subnormal += int(subnormal_mask(t).sum())
                self.values += t.numel()
        return out
