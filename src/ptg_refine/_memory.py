"""Before enhancing a large image whole: estimate the memory R needs and compare it with what is available, so that
a 10000x9000 photo fails at once with "pass --tile 512" instead of running out of memory (or being killed) after
seconds of work.

The estimate is R's peak working memory per pixel, linear in its width (measured on the CPU for the shipped
refiners, width 16: about 195 bytes per pixel including a light F such as SCI, at 2048x2048), plus the
input, F's output and the result. F's own needs are not known here (a heavy F such as IAT takes about four
times more); ``--tile-restorer`` bounds them too.
"""
from __future__ import annotations

import os

BYTES_PER_PIXEL_PER_CHANNEL = 12  # R's activations, float32, per pixel and per channel of its first stage
BYTES_PER_PIXEL_FIXED = 48  # input, F's output, the result (float32 RGB)
HEADROOM = 0.9  # use at most this share of the available memory


def untiled_bytes(refiner, height: int, width: int) -> int:
    """Estimated peak memory (bytes) of ``refiner.enhance`` on a whole height x width image."""
    channels = int(getattr(refiner, "config", {}).get("width", 16) or 16)
    return int(height) * int(width) * (BYTES_PER_PIXEL_PER_CHANNEL * channels + BYTES_PER_PIXEL_FIXED)


def available_bytes(device=None) -> int | None:
    """Memory available for a new allocation on ``device`` (a CUDA device: its free memory; else the system's
    MemAvailable from /proc/meminfo), or None where it cannot be told."""
    if device is not None and getattr(device, "type", str(device)).startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


class ImageTooLargeError(ValueError):
    """Enhancing an image whole would need more memory than is available; the message says what to pass."""


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def check_untiled_memory(refiner, height: int, width: int, device=None) -> None:
    """:class:`ImageTooLargeError` with the ``--tile`` advice when enhancing a whole height x width image would need more memory
    than is available (see the module docstring); nothing when it fits or the available memory is unknown."""
    need = untiled_bytes(refiner, height, width)
    free = available_bytes(device)
    if free is None or need <= HEADROOM * free:
        return
    raise ImageTooLargeError(f"a {width}x{height} image needs about {_gb(need)} to enhance whole, but only "
                             f"{_gb(free)} of memory are available: pass --tile 512 (R tile by tile: same result up "
                             "to float rounding; add --tile-restorer if F runs out of memory too), or downscale it")
