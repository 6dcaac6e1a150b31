"""Where the models run: ``--device`` of the CLI and ``device=`` of the Python API.

``"auto"`` is CUDA when torch sees a GPU, else the CPU (Apple's ``"mps"`` is opt-in: give it explicitly).
``"cpu"``, ``"cuda"``, ``"cuda:N"`` and ``"mps"`` are checked against what this torch build can use, so asking
for a GPU that is not there fails at once with one line saying what is available, before any model is built.

>>> resolve_device("cpu")
device(type='cpu')
>>> parse_device("gpu")
Traceback (most recent call last):
...
ValueError: device must be auto, cpu, cuda, cuda:N (N = 0, 1, ...) or mps; got 'gpu'
"""
from __future__ import annotations

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


def resolve_device(spec="auto", option: str = "device"):
    """A ``torch.device`` for ``spec`` (a device string as in the module docstring, a ``torch.device`` or None
    for auto), checked against what this machine offers: a ValueError with one line saying why not (e.g. no
    CUDA GPU, ``cuda:3`` on a 2-GPU machine) and what to pass instead."""
    import torch

    if isinstance(spec, torch.device):
        spec = str(spec)
    text = parse_device(spec, option)
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
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
