"""Pieces shared by every restorer: the input contract, the frozen base class and reading checkpoints
(subnormal weights are flushed with :func:`ptg_refine.diagnostics.flush_subnormals_`)."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from .._frozen import StaysFrozen, freeze
from .._validation import check_image

# SHA-256 of the authors' Zero-DCE ``Epoch99.pth`` (Li-Chongyi/Zero-DCE @ e0f4adc5). It is a legacy
# (pre-1.6, non-zip) pickle; recent torch reads it with ``weights_only=True``, but if an older torch
# cannot, we allow the unsafe full unpickler for exactly this file and for nothing else.
_LEGACY_PICKLES = {"a4395acb874f320375d9704997cef874eaaaaa26a1777ceb29a92b70f74c3612"}


def check_input(x: torch.Tensor, module: nn.Module | None = None) -> None:
    """The contract of every restorer: a float batch (B, 3, H, W) of any size (B=0 too) in [0, 1] (tolerance
    1e-3; 8-bit values must be divided by 255), finite, and (with ``module``) of its weights' dtype.
    See :func:`ptg_refine._validation.check_image`."""
    check_image(x, "restorer input", min_size=1, model=module, empty_ok=True)


class Restorer(StaysFrozen, nn.Module):
    """Base class: maps (B, 3, H, W) in [0, 1] to the same shape in [0, 1].

    After :meth:`freeze` the module stays in eval mode even if a parent calls ``.train()``:
    SCI and IAT contain BatchNorm layers whose batch statistics would change the output completely.
    """

    def freeze(self) -> "Restorer":
        return freeze(self)

    @staticmethod
    def convert_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map an original checkpoint to this module's keys (identity unless a network overrides it)."""
        return state_dict


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class UnsafeCheckpointError(pickle.UnpicklingError, ValueError):
    """A pickle checkpoint that ``torch.load(weights_only=True)`` refuses (it holds arbitrary objects)."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` file or an original ``.pth``/``.pt`` state_dict onto the CPU.

    Pickles are read with ``weights_only=True``. The one exception is the known legacy Zero-DCE
    ``Epoch99.pth`` (matched by SHA-256): if the installed torch refuses it, it is re-read with
    ``weights_only=False``. torch 2.15 reads it safely, so the fallback only serves older versions.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"restorer weights {str(path)!r} is a folder, not a weights file")
    if not path.is_file():
        raise FileNotFoundError(f"restorer weights file not found: {path}")
    if path.suffix == ".safetensors":
        try:
            return load_file(path, device="cpu")
        except (SafetensorError, OSError, ValueError) as e:
            raise ValueError(f"could not read restorer weights {path}: not a valid .safetensors file ({e})") from e
    with open(path, "rb") as f:
        head = f.read(4)
    if not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):  # zip archive / pickle protocol >= 2
        raise ValueError(f"could not read restorer weights {path}: not a PyTorch checkpoint (.pth / .pt) or a "
                         f".safetensors file (it starts with {head!r})")
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            if _sha256(path) not in _LEGACY_PICKLES:
                raise UnsafeCheckpointError(f"refusing to read restorer weights {path}: it holds objects other than "
                                            "tensors, which only the unsafe full unpickler would load "
                                            f"({' '.join(str(e).split())[:160]})") from e
            state = torch.load(path, map_location="cpu", weights_only=False)  # known legacy file only
    except UnsafeCheckpointError:
        raise
    except (pickle.UnpicklingError, RuntimeError, EOFError, IndexError, KeyError, ValueError, AttributeError,
            UnicodeDecodeError, TypeError) as e:  # text files, truncated or damaged archives
        msg = " ".join(str(e).split())[:200]
        raise ValueError(f"could not read restorer weights {path}: not a PyTorch checkpoint (.pth / .pt) or a "
                         f".safetensors file ({type(e).__name__}: {msg})") from e
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a plain state_dict (mapping of names to tensors)")
    return dict(state)
