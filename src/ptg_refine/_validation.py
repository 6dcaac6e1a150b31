"""Input checks shared by every public entry point (explicit errors instead of silent fixes).

Two kinds: checks of type, rank, channels, size and batch, which cost nothing and always run; and checks of the
*values* (range, NaN / Inf, position rows), which read the tensor (one ``aminmax`` each, a host sync on a GPU).
Each input of a public call is value-checked once: :meth:`PTGRefiner.forward` / ``enhance`` check ``low``,
``restored`` and ``prior_features`` and run F and G inside :func:`inputs_checked`, where F's and G's own checks
of the same tensor are skipped; R's forward checks shapes only. ``set_value_checks(False)`` (or the environment
variable ``PTG_VALUE_CHECKS=0``) turns value checks off everywhere, e.g. for a tuned deployment; the shape
checks stay.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import os
from typing import TYPE_CHECKING

import torch

from ._stride import STRIDE

if TYPE_CHECKING:
    from pathlib import Path

MIN_SIZE = 16
RANGE_TOLERANCE = 1e-3  # images may leave [0,1] by this much (float rounding of a resize or colour transform)


def _tracing() -> bool:
    """True while torch.jit / torch.compile / ONNX export trace a forward (no data-dependent checks then)."""
    return bool(torch.compiler.is_compiling() or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export())


_VALUE_CHECKS = os.environ.get("PTG_VALUE_CHECKS", "1").strip().lower() not in ("0", "off", "false", "no")
_CHECKED = contextvars.ContextVar("ptg_inputs_checked", default=False)


def set_value_checks(enabled: bool) -> bool:
    """Turn the value checks (range, NaN / Inf, position rows) of every entry point on or off, for the whole
    process; returns the previous setting. Shape and type checks always run."""
    global _VALUE_CHECKS
    if not isinstance(enabled, bool):
        raise TypeError(f"set_value_checks takes True or False, got {enabled!r}")
    previous, _VALUE_CHECKS = _VALUE_CHECKS, enabled
    return previous


def value_checks_enabled() -> bool:
    return _VALUE_CHECKS


@contextlib.contextmanager
def value_checks(enabled: bool):
    """``with value_checks(False): ...``: :func:`set_value_checks` for a block, restored afterwards."""
    previous = set_value_checks(enabled)
    try:
        yield
    finally:
        set_value_checks(previous)


@contextlib.contextmanager
def inputs_checked():
    """A block whose tensors were value-checked at the public boundary: the checks of F and G inside it (on the
    same tensors) skip the value pass. Per thread / task."""
    token = _CHECKED.set(True)
    try:
        yield
    finally:
        _CHECKED.reset(token)


def _values_wanted() -> bool:
    return _VALUE_CHECKS and not _CHECKED.get() and not _tracing()


def value_range(x: torch.Tensor) -> tuple[float, float]:
    """(min, max) of ``x``: the one data-dependent read of every value check (NaN propagates)."""
    lo, hi = torch.aminmax(x.detach())
    return float(lo), float(hi)


def _weights_dtype(module) -> torch.dtype | None:
    for t in (*module.parameters(), *module.buffers()) if isinstance(module, torch.nn.Module) else ():
        if t.is_floating_point():
            return t.dtype
    return None


def check_image(x, name: str = "input", min_size: int = MIN_SIZE, check_range: bool = True,
                model: torch.nn.Module | None = None, empty_ok: bool = False,
                tolerance: float = RANGE_TOLERANCE) -> torch.Tensor:
    """Check that ``x`` is a float (B,3,H,W) image batch in [0,1] (within ``tolerance``) without NaN/Inf.

    The one image check of the package (refiner, tiling, priors and restorers). ``model``: also require the
    dtype of its weights (named in the message as ``model.name``); ``empty_ok``: accept B=0. Raises TypeError
    for non-tensors / wrong dtypes and ValueError for everything else, each message saying what was expected.
    The value check is one pass (min / max), skipped while tracing (torch.jit, torch.compile, ONNX export),
    inside :func:`inputs_checked` and when value checks are off (:func:`set_value_checks`).
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
        raise ValueError(f"{name} must have shape (B,3,H,W) with 3 (RGB) channels in dim 1, got {x.shape[1]} "
                         f"(shape {tuple(x.shape)})")
    expected = _weights_dtype(model)
    if expected is not None:
        check_dtype(x, expected, name, f"restorer {getattr(model, 'name', type(model).__name__)}")
    h, w = x.shape[-2:]
    if h < min_size or w < min_size:
        raise ValueError(f"{name} must be at least {min_size}x{min_size} pixels, got {h}x{w}")
    if x.shape[0] == 0:
        if empty_ok:
            return x
        raise ValueError(f"{name} has an empty batch (B=0)")
    if not _values_wanted():
        return x
    lo, hi = value_range(x)
    ok = (lo >= -tolerance and hi <= 1 + tolerance) if check_range else (math.isfinite(lo) and math.isfinite(hi))
    if not ok:  # (also when NaN: every comparison with NaN is False)
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} contains NaN or Inf values")
        hint = "; 8-bit images must be divided by 255" if hi > 2 else ""
        raise ValueError(f"{name} values must lie in [0,1], got range [{lo:.4g}, {hi:.4g}]{hint}")
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
    if _values_wanted() and g.numel() and not all(math.isfinite(v) for v in value_range(g)):
        raise ValueError(f"{name} contains NaN or Inf values")
    return g


def check_refinement_inputs(low, restored, prior_features, prior_dim: int, min_size: int = MIN_SIZE) -> None:
    """Shape-only checks for R's forward (no data-dependent checks: R must stay traceable for
    torch.compile / ONNX export). Raises TypeError / ValueError naming the offending input."""
    for name, x in (("low", low), ("restored", restored)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of shape (B,3,H,W), got {type(x).__name__}")
        if not torch.is_floating_point(x):
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"{name} must have shape (B,3,H,W), got {tuple(x.shape)}")
    if restored.shape != low.shape:
        raise ValueError(f"restored must have the shape of low {tuple(low.shape)}, got {tuple(restored.shape)}")
    if low.shape[-2] < min_size or low.shape[-1] < min_size:
        raise ValueError(f"low must be at least {min_size}x{min_size} pixels, got {low.shape[-2]}x{low.shape[-1]}")
    if not isinstance(prior_features, torch.Tensor):
        raise TypeError(f"prior_features must be a torch.Tensor of shape (B,{prior_dim}), "
                        f"got {type(prior_features).__name__}")
    if not torch.is_floating_point(prior_features):
        raise TypeError(f"prior_features must be floating point, got dtype {prior_features.dtype}")
    if prior_features.ndim != 2 or prior_features.shape[1] != prior_dim:
        raise ValueError(f"prior_features must have shape (B,{prior_dim}) (the refiner's prior_dim), "
                         f"got {tuple(prior_features.shape)}")
    check_same_batch(low, prior_features, "prior_features")


def check_position(position, h: int, w: int, batch: int | None = None) -> None:
    """``position = (top, left, full_h, full_w)``: an h x w crop whose top-left corner is at (top, left) of a
    full_h x full_w image, with top and left multiples of STRIDE = 4 (so latent grids line up); or a (B,4)
    integer tensor of such rows, one per sample (``batch``: the expected B). The values of a tensor are not
    checked while tracing (torch.jit / torch.compile / ONNX export)."""
    if position is None:
        return
    if isinstance(position, torch.Tensor):
        _check_position_rows(position, h, w, batch)
        return
    if not isinstance(position, (tuple, list)) or len(position) != 4:
        raise ValueError(f"position must be (top, left, full_h, full_w), got {position!r}")
    _check_corner(*position, h, w)


def _check_corner(top, left, full_h, full_w, h: int, w: int, where: str = "") -> None:
    if top < 0 or left < 0 or top % STRIDE or left % STRIDE:
        raise ValueError(f"position top/left must be non-negative multiples of {STRIDE}, got ({top}, {left}){where}")
    if top + h > full_h or left + w > full_w:
        raise ValueError(f"a {h}x{w} crop at ({top}, {left}) does not fit in a {full_h}x{full_w} image{where}")


def _check_position_rows(position: torch.Tensor, h: int, w: int, batch: int | None) -> None:
    """A (B,4) tensor of per-sample (top, left, full_h, full_w) rows: shape, integer dtype, and each row's values
    (the first bad row is named)."""
    if position.ndim != 2 or position.shape[1] != 4:
        raise ValueError("a position tensor must have shape (B,4), one (top, left, full_h, full_w) row per sample, "
                         f"got {tuple(position.shape)}")
    if position.is_floating_point() or position.is_complex() or position.dtype == torch.bool:
        raise ValueError(f"a position tensor must have an integer dtype (e.g. torch.long), got {position.dtype}")
    if batch is not None and position.shape[0] != batch:
        raise ValueError(f"the position tensor has {position.shape[0]} rows but low has batch size {batch}; "
                         "they must match (one row per sample)")
    if not _values_wanted():
        return
    top, left, full_h, full_w = position.unbind(1)
    bad = (top < 0) | (left < 0) | (top % STRIDE != 0) | (left % STRIDE != 0) | (top + h > full_h) | (left + w > full_w)
    if bool(bad.any()):
        row = int(bad.nonzero()[0, 0])
        _check_corner(*position[row].tolist(), h, w, where=f" (row {row} of the position tensor)")


RESTORED_TOLERANCE = 0.5


def check_restored(restored, low=None, tolerance: float = RESTORED_TOLERANCE) -> torch.Tensor:
    """Check F's output ``restored`` like ``low`` (float (B,3,H,W), finite), and its range with a tolerance:
    Eq. 1 accepts an I_c somewhat outside [0,1] (a restorer may overshoot), but values beyond
    [-tolerance, 1 + tolerance] mean a wrong scale (typically 8-bit values 0-255 that were not divided by 255),
    which would otherwise be clamped away silently. ``low``: also check that the shapes match."""
    with inputs_checked():  # type, shape and size here; the values once, below
        check_image(restored, "restored", check_range=False)
    if low is not None and isinstance(low, torch.Tensor) and restored.shape != low.shape:
        raise ValueError(f"restored must have the shape of low {tuple(low.shape)}, got {tuple(restored.shape)}")
    if not _values_wanted() or restored.shape[0] == 0:
        return restored
    lo, hi = value_range(restored)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("restored contains NaN or Inf values")
    if lo < -tolerance or hi > 1 + tolerance:
        hint = "; it looks like 8-bit values (0-255): divide by 255" if hi > 2 else ""
        raise ValueError(f"restored (F's output) must lie in [0,1] (tolerance {tolerance}), got range "
                         f"[{lo:.4g}, {hi:.4g}]{hint}")
    return restored


def check_dtype(x: torch.Tensor, expected: torch.dtype, name: str = "input", model: str = "the model") -> torch.Tensor:
    """A clear error (instead of torch's "Input type (double) and bias type (float) should be the same") when a
    float tensor's dtype differs from the weights it meets."""
    if isinstance(x, torch.Tensor) and torch.is_floating_point(x) and x.dtype != expected:
        short = str(expected).replace("torch.", "")
        raise TypeError(f"{name} has dtype {x.dtype} but {model}'s weights are {expected}; cast the input "
                        f"(x.to(torch.{short})) or the model (.to({x.dtype}))")
    return x


def check_output_dir(path, option: str = "--out") -> "Path":
    """Check, before any long work, that ``path`` is a folder that exists or can be created, and that files can be
    written in it. Nothing is created (a probe file is written and removed in the nearest existing folder).
    Raises NotADirectoryError / PermissionError naming the path."""
    import os
    import tempfile
    from pathlib import Path

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{option} {str(path)!r} exists and is not a folder")
    existing = path
    while not existing.exists():
        if existing.is_symlink():
            raise NotADirectoryError(f"{option} {str(path)!r}: {str(existing)!r} is a broken link")
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(f"{option} {str(path)!r} cannot be created: {str(existing)!r} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".ptg-write-test-"):
            pass
    except OSError as e:
        where = "" if existing == path else f" (in {str(existing)!r}, where it would be created)"
        raise PermissionError(f"{option} {str(path)!r} is not writable{where}: {e.strerror or e}") from e
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{option} {str(path)!r} is not writable")
    return path
