"""Synthetic low-light pairs from clean photographs (a camera-like degradation in linear RGB).

Everything produced here is **synthetic**: there is no real paired low-light data on these machines.

The degradation of one clean sRGB image ``x`` (8-bit, scaled to [0,1]), for one (seed, name, variant):

1. sRGB -> linear RGB with the IEC 61966-2-1 transfer function.
2. Exposure: multiply by ``k ~ LogUniform(0.03, 0.3)`` (about 1.7 to 5 stops under-exposed).
3. Mild colour cast: multiply R and B by independent gains ``~ LogUniform(0.85, 1.15)`` (G fixed at 1),
   like an uncorrected white balance.
4. Poisson-Gaussian sensor noise (shot + read), in the parameterisation of Brooks et al., "Unprocessing
   Images for Learned Raw Denoising", CVPR 2019: shot gain ``a ~ LogUniform(1e-4, 2e-3)`` and read variance
   ``b = exp(2.18·log(a) + 1.2 + N(0, 0.26²))``; the signal becomes ``a·Poisson(s/a) + N(0, b)``.
   (Our shot range is narrower than their 1e-4..1.2e-2, keeping noise moderate on 8-bit input.)
5. Optionally (``black``, the ``camera`` preset) a black-level pedestal ``~ Uniform(black)`` added in linear RGB:
   real low-light shots have a raised floor (an imperfectly subtracted black level, flare).
6. Clip to [0,1], linear -> sRGB, 8-bit quantisation (round to nearest).

Presets (:data:`PRESETS`, ``ptg-refine synth --preset``): ``default`` is the range above; ``camera`` is calibrated to
the real low-light pairs measured in ``benchmarks/results/real_vs_synthetic.md`` (real IR-RGB train pairs are
4 to 7 stops under-exposed, with white-balance shifts between the two exposures of up to 0.65-1.6x per channel and a
black level near 0.01 in sRGB), while keeping the brighter default range too so that R also sees F's good cases:
exposure 0.008-0.3, cast 0.65-1.6, shot gain 3e-5 to 2e-3, black pedestal 0-0.001 (linear).

The target is the clean image itself (written as PNG). The random generator of each output is seeded
from ``sha256(f"{seed}/{name}/{variant}")``, so the result does not depend on the order or the number of
files processed. Optionally (``max_side``), clean images whose long side exceeds ``max_side`` are first
downscaled (Lanczos, aspect kept) and the pair is made at that size: reported, never silent.

Clean images whose (downscaled) short side is below ``min_size`` (default 96 pixels, the default training crop
of ``ptg-refine train``) are refused before anything is written, naming the files. The output folder is written
atomically: pairs go to a temporary folder next to ``out_dir`` that is renamed into place at the end, so a
failed or interrupted run never leaves a half-written folder that blocks the next one.
"""
from __future__ import annotations

import hashlib
import math
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .._outputs import write_text_atomic
from .io import image_size, list_images, read_uint8, save_image

DEFAULT_MIN_SIZE = 96  # TrainConfig.crop_size's default


@dataclass(frozen=True)
class DegradationConfig:
    """Ranges of the synthetic degradation (see the module docstring)."""

    exposure: tuple[float, float] = (0.03, 0.3)
    cast: tuple[float, float] = (0.85, 1.15)
    shot: tuple[float, float] = (1e-4, 2e-3)
    read_slope: float = 2.18
    read_intercept: float = 1.2
    read_sigma: float = 0.26
    black: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self):
        for field in ("exposure", "cast", "shot"):
            lo, hi = getattr(self, field)
            if not (0 < lo <= hi):
                raise ValueError(f"DegradationConfig.{field} must be a range 0 < low <= high, got {(lo, hi)}")
        lo, hi = self.black
        if not (0 <= lo <= hi < 0.1):
            raise ValueError(f"DegradationConfig.black must be a range 0 <= low <= high < 0.1, got {(lo, hi)}")


PRESETS = {
    "default": DegradationConfig(),
    "camera": DegradationConfig(exposure=(0.008, 0.3), cast=(0.65, 1.6), shot=(3e-5, 2e-3), black=(0.0, 0.001)),
}


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 inverse transfer function, x in [0,1]."""
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 transfer function, x in [0,1]."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def derive_seed(seed: int, name: str, variant: int) -> int:
    """64-bit seed from (seed, name, variant): stable across runs, platforms and file order."""
    digest = hashlib.sha256(f"{seed}/{name}/{variant}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def sample_parameters(rng: np.random.Generator, config: DegradationConfig = DegradationConfig()) -> dict:
    """Draw one set of degradation parameters."""
    shot = _log_uniform(rng, *config.shot)
    log_read = config.read_slope * math.log(shot) + config.read_intercept + rng.normal(0.0, config.read_sigma)
    params = {"exposure": _log_uniform(rng, *config.exposure),
              "gain_r": _log_uniform(rng, *config.cast), "gain_b": _log_uniform(rng, *config.cast),
              "shot": shot, "read_variance": float(math.exp(log_read))}
    if config.black[1] > 0:  # drawn only when enabled, so the default stream (and its outputs) is unchanged
        params["black"] = float(rng.uniform(*config.black))
    return params


def degrade(clean: np.ndarray, rng: np.random.Generator,
            config: DegradationConfig = DegradationConfig()) -> tuple[np.ndarray, dict]:
    """Clean (H,W,3) uint8 sRGB -> (synthetic low-light uint8 image, parameters used)."""
    if clean.dtype != np.uint8 or clean.ndim != 3 or clean.shape[2] != 3:
        raise ValueError(f"degrade expects an (H,W,3) uint8 RGB array, got {clean.dtype} {clean.shape}")
    p = sample_parameters(rng, config)
    lin = srgb_to_linear(clean.astype(np.float64) / 255.0)
    lin = lin * p["exposure"] * np.array([p["gain_r"], 1.0, p["gain_b"]])
    lin = np.clip(lin + p.get("black", 0.0), 0.0, 1.0)
    noisy = rng.poisson(lin / p["shot"]) * p["shot"] + rng.normal(0.0, math.sqrt(p["read_variance"]), lin.shape)
    out = np.round(linear_to_srgb(noisy) * 255.0).astype(np.uint8)
    return out, p


def _resize_max_side(img: np.ndarray, max_side: int | None) -> np.ndarray:
    h, w = img.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return img
    s = max_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.LANCZOS))


def _names(clean_dirs) -> list[tuple[str, Path]]:
    """(unique name, path) for every image under the clean folders (searched recursively). The name is
    the path relative to its folder with separators replaced by '_', e.g. ``CBSD68_101085``."""
    out, seen = [], {}
    for folder in clean_dirs:
        folder = Path(folder)
        for path in list_images(folder, recursive=True):
            name = "_".join(path.relative_to(folder).with_suffix("").parts)
            if name in seen:
                raise ValueError(f"two clean images map to the same output name {name!r}: {seen[name]} and {path}; "
                                 "rename one or pass the folders separately")
            seen[name] = path
            out.append((name, path))
    return out


def _scaled_size(h: int, w: int, max_side: int | None) -> tuple[int, int]:
    if max_side is None or max(h, w) <= max_side:
        return h, w
    s = max_side / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. no permission: it exists
        return True
    return True


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Temporary folders of earlier synth runs into ``out_dir`` whose process is gone (killed runs)."""
    for tmp in out_dir.parent.glob(f".{out_dir.name}.synth-tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if tmp.is_dir() and pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def split_names(names, val_fraction: float, seed: int) -> set[str]:
    """The names held out for validation: ``round(val_fraction * n)`` of them (at least one when the fraction is
    > 0), chosen by a hash of seed and name, so the split depends on neither file order nor the other names."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    names = list(names)
    k = max(1, round(val_fraction * len(names))) if val_fraction > 0 else 0
    if k >= len(names):
        raise ValueError(f"val_fraction={val_fraction} would leave no training image out of {len(names)}")
    order = sorted(names, key=lambda n: hashlib.sha256(f"{seed}/split/{n}".encode()).hexdigest())
    return set(order[:k])


def synthesize_pairs(clean_dirs, out_dir, variants: int = 1, seed: int = 0, max_side: int | None = None,
                     config: DegradationConfig = DegradationConfig(), progress: bool = True,
                     min_size: int = DEFAULT_MIN_SIZE, val_fraction: float = 0.0) -> dict:
    """Write a **synthetic** paired folder ``out_dir/low/<name>_v<k>.png`` + ``out_dir/high/<name>_v<k>.png``.

    ``val_fraction`` > 0: hold out that fraction of the clean photos (all variants of a photo on one side,
    :func:`split_names`) and write ``out_dir/train/{low,high}`` and ``out_dir/val/{low,high}`` instead.

    ``out_dir`` must be new or empty; it appears complete or not at all (see the module docstring).
    ``min_size``: refuse clean images whose short side (after ``max_side``) is smaller, before writing anything.
    Returns a summary dict (also written to ``out_dir/synthetic.json`` with every image's parameters).
    """
    import json

    from tqdm import tqdm

    if isinstance(clean_dirs, (str, Path)):
        clean_dirs = [clean_dirs]
    if not isinstance(variants, int) or variants < 1:
        raise ValueError(f"variants must be a positive integer, got {variants!r}")
    if not isinstance(min_size, int) or min_size < 16:
        raise ValueError(f"min_size must be an integer >= 16 pixels, got {min_size!r}")
    if max_side is not None and max_side < max(16, min_size):
        raise ValueError(f"max_side must be >= min_size = {min_size} pixels (or None), got {max_side}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty: write synthetic pairs into a new folder")
    items = _names(clean_dirs)
    held_out = split_names([name for name, _ in items], val_fraction, seed)
    small = []
    for name, path in items:
        h, w = _scaled_size(*image_size(path), max_side)
        if min(h, w) < min_size:
            small.append(f"{path} ({h}x{w}{' after --max-side' if max_side else ''})")
    if small:
        raise ValueError(f"{len(small)} clean image(s) are smaller than min_size = {min_size} pixels (short side): "
                         f"{'; '.join(small[:10])}{' ...' if len(small) > 10 else ''}. Remove them or lower "
                         "min_size (ptg-refine synth --min-size; training crops must fit in the images)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out_dir)
    tmp = out_dir.parent / f".{out_dir.name}.synth-tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        records, resized = [], []
        for name, path in tqdm(items, desc="synth", disable=not progress, unit="img"):
            clean = read_uint8(path)
            small = _resize_max_side(clean, max_side)
            if small.shape != clean.shape:
                resized.append(name)
            split = ("val" if name in held_out else "train") if val_fraction > 0 else None
            root = tmp / split if split else tmp
            low_dir, high_dir = root / "low", root / "high"
            for k in range(variants):
                rng = np.random.default_rng(derive_seed(seed, name, k))
                try:
                    low, params = degrade(small, rng, config)
                    file = f"{name}_v{k}.png"
                    save_image(low, low_dir / file)
                    save_image(small, high_dir / file)
                except OSError as e:  # e.g. disk full: say where, and that nothing was left behind
                    raise OSError(e.errno, f"{e.strerror or e} while writing the pairs of {path}; {out_dir} was not "
                                           "created") from e
                records.append({"file": file, "source": str(path), "size": list(small.shape[:2]),
                                **({"split": split} if split else {}), **params})
        summary = {"synthetic": True, "seed": seed, "variants": variants, "max_side": max_side, "min_size": min_size,
                   "clean_dirs": [str(d) for d in clean_dirs], "images": len(items), "pairs": len(records),
                   "resized": resized, "degradation": asdict(config), "val_fraction": val_fraction,
                   "val_images": sorted(held_out), "records": records}
        write_text_atomic(tmp / "synthetic.json", json.dumps(summary, indent=1))
        if out_dir.is_dir():
            out_dir.rmdir()  # empty (checked above); fails, keeping everything, if something appeared meanwhile
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary
