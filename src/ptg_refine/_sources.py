"""Where a trained refiner comes from, said explicitly: one resolver for ``PTGRefiner.from_pretrained``, the CLI's
``--refiner`` and ``hubconf.ptg_refiner(pretrained=...)``. No torch here.

* ``hf-hub:user/name`` — a Hugging Face Hub repo.
* ``local-dir:PATH``, or any existing path — a ``save_pretrained`` folder (config.json + model.safetensors).
* a name of :func:`~ptg_refine.list_pretrained` — a refiner shipped in the package.
* a bare ``user/name`` that is none of these — a hub repo, unless its first part is an existing folder (then it
  may be a mistyped local path, and the error asks for ``local-dir:`` or ``hf-hub:``).

>>> resolve_source("hf-hub:user/name")
RefinerSource(kind='hf-hub', location='user/name', implied=False)
>>> resolve_source("sci-none").kind
'shipped'
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ._pretrained import PRETRAINED_DIR, is_pretrained, list_pretrained, unknown_pretrained_message

HUB, LOCAL, SHIPPED = "hf-hub", "local-dir", "shipped"
_PREFIXES = (HUB, LOCAL)
_REPO_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class RefinerSource:
    """kind: ``"hf-hub"``, ``"local-dir"`` or ``"shipped"``; location: the repo id, or the folder to read
    (a shipped refiner's folder inside the package); implied: a hub repo id given without its prefix."""

    kind: str
    location: str
    implied: bool = False


def is_repo_id(text: str) -> bool:
    """``user/name`` with the characters the hub allows (no ``..``)."""
    parts = text.split("/")
    return len(parts) == 2 and all(_REPO_PART.fullmatch(p) and ".." not in p for p in parts)


def resolve_source(spec) -> RefinerSource:
    """The source ``spec`` names (see the module docstring); raises FileNotFoundError / NotADirectoryError /
    ValueError with one line saying what was expected."""
    text = os.fspath(spec) if isinstance(spec, os.PathLike) else str(spec)
    prefix, _, rest = text.partition(":")
    if prefix == HUB:
        if not is_repo_id(rest):
            raise ValueError(f"refiner {text!r}: a hub repo id is 'hf-hub:user/name'")
        return RefinerSource(HUB, rest)
    if prefix == LOCAL:
        return RefinerSource(LOCAL, _local_folder(rest, text))
    if os.path.exists(text):
        return RefinerSource(LOCAL, _local_folder(text, text))
    if is_pretrained(text):
        return RefinerSource(SHIPPED, str(PRETRAINED_DIR / text))
    if is_repo_id(text):
        first = text.split("/")[0]
        if os.path.isdir(first):
            raise FileNotFoundError(f"refiner {text!r}: there is no local folder {os.path.abspath(text)!r}, but "
                                    f"{first!r} is a local folder; say which you mean: 'local-dir:{text}' or "
                                    f"'hf-hub:{text}'")
        return RefinerSource(HUB, text, implied=True)
    raise FileNotFoundError(f"{unknown_pretrained_message(text, 'refiner')} (shipped ones); {text!r} is neither a "
                            "local folder nor a hub repo id 'hf-hub:user/name'")


def _local_folder(path: str, given: str) -> str:
    if os.path.isdir(path):
        return path
    if os.path.exists(path):
        raise NotADirectoryError(f"refiner {given!r} is a file; give a refiner folder (config.json + "
                                 f"model.safetensors) or a shipped name ({', '.join(list_pretrained())})")
    raise FileNotFoundError(f"refiner {given!r}: there is no folder {os.path.abspath(path)!r}")
