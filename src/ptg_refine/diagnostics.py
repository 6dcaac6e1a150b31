"""Numerical diagnostics: subnormal floats slow x86 CPUs down (microcode path), so R's weights and
activations should hold none (see shared/specs/README.md on the baselines' checkpoints)."""
import torch
from torch.overrides import TorchFunctionMode


class SubnormalCounter(TorchFunctionMode):
    """Counts nonzero |x| < finfo(float32).tiny in every float32 tensor produced by a torch function."""

    def __init__(self):
        super().__init__()
        self.subnormal = self.values = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.dtype == torch.float32:
                self.subnormal += int(((t != 0) & (t.abs() < torch.finfo(torch.float32).tiny)).sum())
                self.values += t.numel()
        return out
