"""Where the models run: ``--device`` of the CLI and ``device=`` of the Python API.

The one device rule of the package: ``enhance``, ``eval``, ``train`` (CLI and :class:`~ptg_refine.training.Trainer`)
all resolve their device here. ``"auto"`` is CUDA when torch sees a GPU, else the CPU (Apple's ``"mps"`` is opt-in:
give it explicitly). ``"cpu"``, ``"cuda"``, ``"cuda:N"`` and ``"mps"`` are checked against what this torch build can
use, so asking for a GPU that is not there fails at once with one line saying what is available, before any model
is built. Under torchrun (``LOCAL_RANK`` set) ``"auto"`` and ``"cuda"`` are the GPU of the process's local rank, so
every rank gets its own; ``"cuda:N"`` with several processes per machine is refused (all would share one GPU).

>>> resolve_device("cpu")
device(type='cpu')
>>> parse_device("gpu")
Traceback (most recent call last):
...
ValueError: device must be auto, cpu, cuda, cuda:N (N = 0, 1, ...) or mps; got 'gpu'
"""
from __future__ import annotations

import os
import re

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N (N = 0, 1, ...) or mps"
DEVICE_HELP = ("where F, G and R run: auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda, cuda:N or "
               "mps (Apple GPU)")
_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def parse_device(spec, option: str = "device") -> str:
    """``spec`` normalised (lower case, no spaces) if it is a valid device string, else a ValueError naming
    the choices. Needs no torch: the CLI checks the spelling before importing anything heavy."""
    text = str(spec).strip().lower() if spec is not None else "auto"
    if not _PATTERN.match(text):
        raise ValueError(f"{option} must be {DEVICE_CHOICES}; got {spec!r}")
    return text


def _no_cuda_reason(torch) -> str:
    if getattr(torch.version, "cuda", None) is None:
        return f"this torch ({torch.__version__}) is a CPU-only build"
    return f"this torch ({torch.__version__}, CUDA {torch.version.cuda}) finds no usable GPU or driver"


def local_rank() -> int | None:
    """This process's ``LOCAL_RANK`` under torchrun, else None."""
    value = os.environ.get("LOCAL_RANK")
    return int(value) if value not in (None, "") else None


def resolve_device(spec="auto", option: str = "device"):
    """A ``torch.device`` for ``spec`` (a device string as in the module docstring, a ``torch.device`` or None
    for auto), checked against what this machine offers: a ValueError with one line saying why not (e.g. no
    CUDA GPU, ``cuda:3`` on a 2-GPU machine) and what to pass instead. Under torchrun a CUDA device is the local
    rank's GPU (see the module docstring)."""
    import torch

    if isinstance(spec, torch.device):
        spec = str(spec)
    text = parse_device(spec, option)
    rank = local_rank()
    if text == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        text = "cuda"
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"{option} mps: Apple's MPS backend is not available on this machine; use "
                             f"{option} cpu (or auto)")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise ValueError(f"{option} {text}: no CUDA GPU is available ({_no_cuda_reason(torch)}); use {option} cpu "
                         f"(or auto, which falls back to the CPU)")
    device = torch.device(text)
    count = torch.cuda.device_count()
    if rank is not None:
        if device.index is None:
            device = torch.device("cuda", rank)
        elif int(os.environ.get("LOCAL_WORLD_SIZE", "1")) > 1:
            raise ValueError(f"{option} {text}: under torchrun each process takes the GPU of its LOCAL_RANK; pass "
                             f"{option} cuda (or auto), and choose the GPUs with CUDA_VISIBLE_DEVICES")
    if device.index is not None and device.index >= count:
        raise ValueError(f"{option} {text}: this machine has {count} CUDA GPU(s) (cuda:0 to cuda:{count - 1})")
    return device


def module_device(*parts):
    """The device of the first parameter or buffer found in ``parts`` (modules, or anything else, skipped),
    or None when none has any (e.g. plain callables)."""
    from torch import nn

    for part in parts:
        if isinstance(part, nn.Module):
            for t in part.parameters():
                return t.device
            for t in part.buffers():
                return t.device
    return None
