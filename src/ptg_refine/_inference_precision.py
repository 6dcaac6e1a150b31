"""Inference precision (which arithmetic ``enhance`` runs R in; how R keeps its ends in float32 under it is
:mod:`ptg_refine.modules.precision`) of :meth:`PTGRefiner.enhance` and ``ptg-refine enhance --precision``.

* ``"fp32"``: float32 throughout, exactly Eq. (1) as ``forward`` computes it.
* ``"bf16"``: R under bfloat16 autocast with its full-resolution ends in float32
  (:mod:`ptg_refine.modules.precision`); F and G always run in float32.
* ``"auto"`` (the default of ``enhance``): ``"bf16"`` on a CPU with native bfloat16 instructions (x86 ``avx512_bf16``
  or ``amx_bf16``, Arm ``bf16``), where it is the faster path, else ``"fp32"`` (on GPUs too: not measured here).

``forward`` is always float32, and ``ptg-refine eval`` / ``evaluate_pairs`` score in float32 unless told otherwise,
so metrics stay comparable across machines.
"""
from __future__ import annotations

import contextlib
import functools
import os
import platform

PRECISIONS = ("auto", "fp32", "bf16")
PRECISION_HELP = ("arithmetic of R: auto (bfloat16 where the CPU has native bfloat16 instructions, output within "
                  "1/255 of float32; else float32), fp32, or bf16")
_NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}  # x86 (Linux /proc/cpuinfo names); Arm: "bf16"


def check_precision(precision, option: str = "precision") -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"{option} must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    return precision


def cpuinfo_has_bf16(cpuinfo: str, machine: str | None = None) -> bool:
    """Whether the text of ``/proc/cpuinfo`` lists bfloat16 arithmetic: x86 ``flags`` with ``avx512_bf16`` or
    ``amx_bf16``, or (on ``machine`` aarch64 / arm64) ``Features`` with ``bf16``."""
    machine = (machine or platform.machine()).lower()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key, words = key.strip().lower(), set(value.split())
        if key == "flags" and _NATIVE_BF16_FLAGS & words:
            return True
        if key == "features" and machine in ("aarch64", "arm64") and "bf16" in words:
            return True
    return False


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bfloat16 arithmetic instructions (:func:`cpuinfo_has_bf16`) and torch's oneDNN can
    use bfloat16. Linux only (``/proc/cpuinfo``); elsewhere False, so ``"auto"`` stays float32."""
    import torch

    supported = getattr(getattr(torch.ops, "mkldnn", None), "_is_mkldnn_bf16_supported", None)
    try:
        if supported is not None and not supported():
            return False
    except RuntimeError:
        return False
    try:
        with open("/proc/cpuinfo") as fh:
            return cpuinfo_has_bf16(fh.read())
    except OSError:
        return False


def autocast_dtype(precision, device):
    """The autocast dtype of R for ``precision`` on ``device`` (a torch.device): torch.bfloat16, or None for
    float32."""
    import torch

    precision = check_precision(precision)
    if precision == "fp32":
        return None
    if precision == "auto":
        return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"precision 'bf16': this GPU ({torch.cuda.get_device_name(device)}) has no bfloat16 "
                         "support; use precision 'fp32'")
    return torch.bfloat16


def set_passive_wait() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless the user set a policy: OpenMP threads that wait at a barrier sleep
    instead of spinning, which on a busy machine made runs 2-5x slower. Takes effect only before torch
    (its OpenMP runtime) is loaded, so the CLI calls it first thing."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@contextlib.contextmanager
def reduced_precision(device, dtype):
    """R under autocast to ``dtype`` (:func:`autocast_dtype`) with float32 ends
    (:func:`ptg_refine.modules.precision.float32_ends`); nothing if None."""
    if dtype is None:
        yield
        return
    import torch

    from .modules.precision import float32_ends

    with torch.autocast(device.type, dtype=dtype), float32_ends():
        yield
