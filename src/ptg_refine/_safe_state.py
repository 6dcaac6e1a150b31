"""Nested state (optimiser / scheduler / RNG state, history, settings) as JSON + safetensors: files that can be
read without running any code, unlike a pickle (``torch.save``), whose loading may call anything the file names.

:func:`save_state` splits an object made of dicts, lists, tuples, strings, numbers, booleans, None and tensors
into a JSON skeleton (``NAME.json``) and its tensors (``NAME.safetensors``, referenced from the skeleton by key);
:func:`load_state` puts it back together exactly (floats round-trip bit for bit through JSON, tensors keep dtype
and shape; tensors come back on the CPU). Anything else refuses to be saved (TypeError naming where it sits), and a
file that does not follow the format refuses to load (ValueError naming the file).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ._outputs import write_text_atomic

FORMAT = "ptg-refine-state/1"


def _pack(obj, tensors: dict, where: str):
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().to("cpu", copy=True).contiguous()
        return {"__tensor__": key}
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    if isinstance(obj, tuple):
        return {"__tuple__": [_pack(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_pack(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _pack(v, tensors, f"{where}[{k!r}]") for k, v in obj.items()}
        return {"__dict__": [[_pack(k, tensors, f"{where} key"), _pack(v, tensors, f"{where}[{k!r}]")]
                             for k, v in obj.items()]}
    if type(obj).__module__ == "numpy" and getattr(obj, "ndim", None) == 0:  # a numpy scalar (np.float32, ...)
        return _pack(obj.item(), tensors, where)
    raise TypeError(f"cannot store {where} (a {type(obj).__name__}) in a JSON + safetensors state: only dicts, "
                    "lists, tuples, str, int, float, bool, None and tensors")


def _unpack(obj, tensors: dict, path: Path):
    if isinstance(obj, list):
        return [_unpack(v, tensors, path) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        (tag, value), = obj.items()
        if tag == "__tensor__":
            if value not in tensors:
                raise ValueError(f"{path} refers to tensor {value!r}, which its .safetensors file does not hold")
            return tensors[value]
        if tag == "__tuple__":
            return tuple(_unpack(v, tensors, path) for v in value)
        if tag == "__dict__":
            return {_unpack(k, tensors, path): _unpack(v, tensors, path) for k, v in value}
        if tag == "__float__":
            if value not in ("inf", "-inf", "nan"):
                raise ValueError(f"{path}: {value!r} is not a float")
            return float(value)
    bad = [k for k in obj if k.startswith("__")]
    if bad:
        raise ValueError(f"{path}: unknown entry {bad[0]!r} (not a {FORMAT} file)")
    return {k: _unpack(v, tensors, path) for k, v in obj.items()}


def state_paths(folder: str | Path, name: str) -> tuple[Path, Path]:
    """(``folder/NAME.json``, ``folder/NAME.safetensors``)."""
    folder = Path(folder)
    return folder / f"{name}.json", folder / f"{name}.safetensors"


def save_state(state, folder: str | Path, name: str) -> tuple[Path, Path]:
    """Write ``state`` as ``folder/NAME.json`` + ``folder/NAME.safetensors`` (see the module docstring); the caller
    makes the folder appear atomically. Returns both paths."""
    skeleton_path, tensors_path = state_paths(folder, name)
    tensors: dict = {}
    skeleton = _pack(state, tensors, "the state")
    save_file(tensors, str(tensors_path), metadata={"format": FORMAT})
    umask = os.umask(0)  # safetensors creates the file 0600; give it the usual permissions
    os.umask(umask)
    os.chmod(tensors_path, 0o666 & ~umask)
    write_text_atomic(skeleton_path, json.dumps({"format": FORMAT, "state": skeleton}, allow_nan=False))
    return skeleton_path, tensors_path


def load_state(folder: str | Path, name: str):
    """The state written by :func:`save_state` (tensors on the CPU). No code from the files runs: JSON and
    safetensors are data only. ValueError naming the file when one is not in the format."""
    skeleton_path, tensors_path = state_paths(folder, name)
    try:
        data = json.loads(skeleton_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{skeleton_path} is not valid JSON ({e})") from e
    if not isinstance(data, dict) or data.get("format") != FORMAT or "state" not in data:
        raise ValueError(f"{skeleton_path} is not a training state ({FORMAT!r} JSON expected)")
    try:
        tensors = load_file(str(tensors_path), device="cpu")
    except (SafetensorError, ValueError) as e:
        raise ValueError(f"{tensors_path} is not a valid safetensors file ({e})") from e
    return _unpack(data["state"], tensors, skeleton_path)
