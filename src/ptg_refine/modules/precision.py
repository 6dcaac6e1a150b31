"""R's reduced-precision inference path: bfloat16 autocast in the middle, float32 at the full-resolution ends.

Under ``PTGRefiner.enhance(precision="bf16")`` (the default on CPUs with native bfloat16) R runs inside
``torch.autocast(dtype=torch.bfloat16)``, except R_e (the encoder, which reads the images themselves: bfloat16
keeps 8 bits of an input value) and the two output heads of R_d (I_m multiplies Î_c − I_d in Eq. 1), which
:func:`float32_ends` keeps in float32. With both ends in float32 the shipped sci-none refiner's output on the
15 LOL eval15 photos is within 1/255 of float32 on every value; with everything in bfloat16, on 99.7-99.9 %.
On this path R_e also hands the latent on in channels-last layout, which oneDNN's bfloat16 convolutions prefer
(R_d already runs channels-last on every path).

Outside :func:`float32_ends` (``forward``, training under ``TrainConfig.amp``) nothing changes: the check is
``torch.is_autocast_enabled`` and a thread-local flag, and the float32 path runs exactly as before.
"""
from __future__ import annotations

import contextlib
import threading

import torch

_state = threading.local()


@contextlib.contextmanager
def float32_ends():
    """Within this block (in this thread), R_e and R_d's output heads run in float32 under autocast."""
    previous = getattr(_state, "on", False)
    _state.on = True
    try:
        yield
    finally:
        _state.on = previous


def ends_in_float32(x: torch.Tensor) -> bool:
    """True when autocast is on for ``x``'s device and :func:`float32_ends` is active."""
    return torch.is_autocast_enabled(x.device.type) and getattr(_state, "on", False)
