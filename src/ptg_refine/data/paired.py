"""Paired folders in the LOL layout (``<root>/low/*`` + ``<root>/high/*``, matched by file name) and
unpaired folders (images only). Images are held in memory as uint8 (3,H,W) tensors."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    import numpy as np

from .._validation import MIN_SIZE
from .io import IMAGE_EXTENSIONS, list_images, read_uint8, read_uint8_alpha, scan_folder, to_tensor


@dataclass
class Pair:
    name: str
    low: torch.Tensor   # (3,H,W) uint8
    high: torch.Tensor  # (3,H,W) uint8
    folder: str | None = None  # the paired folder it was read from, as given (PairedFolder); None: made in memory

    def low_float(self) -> torch.Tensor:
        return self.low.float().div(255)

    def high_float(self) -> torch.Tensor:
        return self.high.float().div(255)


def _uint8_tensor(path) -> torch.Tensor:
    return torch.from_numpy(read_uint8(path)).permute(2, 0, 1).contiguous()


def match_pairs(root: str | Path) -> list[tuple[str, Path, Path]]:
    """(name, low file, high file) for every file of ``root/low`` whose stem has a file in ``root/high``.

    Files are matched by stem (``low/1.png`` with ``high/1.png`` or ``high/1.jpg``). Unmatched files on
    either side, or two files with the same stem, are an error (nothing is dropped silently).
    """
    root = Path(root)
    low_dir, high_dir = root / "low", root / "high"
    for d in (low_dir, high_dir):
        if not d.is_dir():
            raise FileNotFoundError(f"{root} is not a paired folder: {d} is missing (expected LOL layout "
                                    "<root>/low/* and <root>/high/* with the same file names)")

    def by_stem(files):
        out = {}
        for f in files:
            if f.stem in out:
                raise ValueError(f"two files with the same name stem {f.stem!r}: {out[f.stem]} and {f}")
            out[f.stem] = f
        return out

    low, high = by_stem(list_images(low_dir)), by_stem(list_images(high_dir))
    only_low, only_high = sorted(set(low) - set(high)), sorted(set(high) - set(low))
    if only_low or only_high:
        raise ValueError(f"{root}: unmatched files — in low/ only: {only_low[:10]}{'...' if len(only_low) > 10 else ''}; "
                         f"in high/ only: {only_high[:10]}{'...' if len(only_high) > 10 else ''}")
    return [(s, low[s], high[s]) for s in sorted(low)]


def _numeric_first(name: str):
    """Sort key: integer names in numeric order (``2`` before ``10``), then the other names in text order."""
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def split_every(items, every: int = 10, name=lambda item: item.name):
    """Split ``items`` into (train, val): sort by name (integer names numerically: ``2 < 10``) and put every
    ``every``-th item, starting with the first, into val; the order within each part is that sorted order.

    This is the fixed LOL-v1 split of this project: the 485 pairs of ``our485`` give 49 val pairs (ids 2, 17,
    36, ...) and 436 train pairs. ``name``: how to read an item's name (default ``item.name``, as of a
    :class:`Pair`; pass ``name=str`` for plain names).

    >>> split_every(["1", "2", "10", "3", "11"], every=2, name=str)
    (['2', '10'], ['1', '3', '11'])
    """
    if isinstance(every, bool) or not isinstance(every, int) or every < 2:
        raise ValueError(f"every must be an integer >= 2 (every N-th item goes to val), got {every!r}")
    ordered = sorted(items, key=lambda item: _numeric_first(name(item)))
    names = [name(item) for item in ordered]
    if len(set(names)) != len(names):
        raise ValueError("split_every: two items have the same name")
    return ([x for i, x in enumerate(ordered) if i % every],
            [x for i, x in enumerate(ordered) if i % every == 0])


class PairedFolder(torch.utils.data.Dataset):
    """A paired low/high folder loaded into memory. ``pairs[i]`` is a :class:`Pair`.

    ``limit``: keep only the first ``limit`` pairs in name order (for quick runs; the count is in repr).
    """

    def __init__(self, root: str | Path, limit: int | None = None):
        self.root = Path(root)
        matched = match_pairs(root)
        if limit is not None:
            if limit < 1:
                raise ValueError(f"limit must be >= 1, got {limit}")
            matched = matched[:limit]
        self.pairs = []
        for name, lf, hf in matched:
            low, high = _uint8_tensor(lf), _uint8_tensor(hf)
            if min(low.shape[1:]) < MIN_SIZE:
                raise ValueError(f"pair {name!r}: {lf} is {low.shape[1]}x{low.shape[2]} pixels; images must be at "
                                 f"least {MIN_SIZE}x{MIN_SIZE}")
            if low.shape != high.shape:
                raise ValueError(f"pair {name!r}: low {lf} is {tuple(low.shape[1:])} but high {hf} is "
                                 f"{tuple(high.shape[1:])}; paired images must have the same size")
            self.pairs.append(Pair(name, low, high, folder=str(root)))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i) -> Pair:
        return self.pairs[i]

    def __repr__(self) -> str:
        return f"PairedFolder({str(self.root)!r}, pairs={len(self)})"


class ImageFolder(torch.utils.data.Dataset):
    """Unpaired images (files and/or folders, no ground truth); items are (name, (3,H,W) float in [0,1]).
    Images are read lazily.

    ``name`` is the file's stem, or with ``recursive=True`` its path relative to the input folder without the
    suffix (``"sub/photo"``), so outputs can keep the folder tree. ``skipped`` lists ``(path, reason)`` for
    what the folders held besides images (other files, subfolders when not recursive, ``exclude`` folders).
    A file given explicitly is always kept (and fails when read if it is not an image). The same file given
    twice (directly and through its folder) is kept once.
    """

    def __init__(self, inputs, recursive: bool = False, exclude=()):
        if isinstance(inputs, (str, Path)):
            inputs = [inputs]
        self.files: list[Path] = []
        self.names: list[str] = []
        self.skipped: list[tuple[Path, str]] = []
        seen = set()
        for item in inputs:
            item = Path(item)
            if item.is_dir():
                files, skipped = scan_folder(item, recursive=recursive, exclude=exclude)
                self.skipped.extend(skipped)
                if not files:
                    self.skipped.append((item, "folder without images"))
                entries = [(f, f.relative_to(item).with_suffix("").as_posix() if recursive else f.stem) for f in files]
            elif item.is_file():
                entries = [(item, item.stem)]
            elif not item.exists() and not item.is_symlink():
                raise FileNotFoundError(f"input {str(item)!r} does not exist")
            else:
                raise FileNotFoundError(f"input {str(item)!r} is neither an image file nor a folder")
            for f, name in entries:
                key = f.resolve()
                if key not in seen:
                    seen.add(key)
                    self.files.append(f)
                    self.names.append(name)
        if not self.files:
            empty = [str(p) for p, why in self.skipped if why == "folder without images"]
            others = [f"{p} ({why})" for p, why in self.skipped if why != "folder without images"]
            if empty:
                what = (f"the folder {empty[0]!r} has no images" if len(empty) == 1 else
                        f"the folders {', '.join(map(repr, empty))} have no images")
                raise ValueError(f"{what} ({', '.join(IMAGE_EXTENSIONS)})"
                                 + (f"; skipped: {', '.join(others[:5])}" if others else ""))
            raise ValueError("no input images given")

    def __len__(self) -> int:
        return len(self.files)

    def read(self, i) -> tuple[torch.Tensor, "np.ndarray | None"]:
        """((3,H,W) float in [0,1], (H,W) uint8 alpha or None) of image i."""
        rgb, alpha = read_uint8_alpha(self.files[i])
        return to_tensor(rgb), alpha

    def __getitem__(self, i):
        return self.names[i], self.read(i)[0]
