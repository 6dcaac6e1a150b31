"""FeatureCache: F(low) and G(low) computed once per full training image, kept in memory and optionally
on disk, so that a training step only runs R.

Keys: sha256 of the low image's uint8 bytes (+ its shape) for the image, and, for the model, its name plus
a fingerprint (sha256 of its parameters and buffers), so e.g. a randomly initialised and a pretrained
Lite0 prior never share entries. The prior is cached for the four flip states of the full image (see
:mod:`ptg_refine.data.crops`), and, for ``TrainConfig.prior_views``, for augmented views of it
(:func:`ptg_refine.training.augment.prior_view_images`).
Disk layout: ``<dir>/<kind>-<name>-<fingerprint[:12]>/<image hash>.safetensors``.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..data.crops import FLIP_DIMS
from .augment import prior_view_images


def image_hash(low_uint8: torch.Tensor) -> str:
    h = hashlib.sha256(str(tuple(low_uint8.shape)).encode())
    h.update(low_uint8.contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def model_fingerprint(model) -> str:
    """sha256 over names, shapes and values of a module's parameters and buffers (of its class and repr
    when it has none, of ``repr`` for plain callables, '' for None)."""
    if not isinstance(model, nn.Module):
        return hashlib.sha256(repr(model).encode()).hexdigest() if model is not None else ""
    state = model.state_dict()
    if not state:  # no weights (e.g. the g = 0 prior): its configuration is all there is
        return hashlib.sha256(f"{type(model).__qualname__}:{model!r}".encode()).hexdigest()
    h = hashlib.sha256()
    for name, t in state.items():
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


class _Store:
    def __init__(self, kind: str, name: str, fingerprint: str, cache_dir):
        self.memory: dict[str, torch.Tensor] = {}
        self.dir = Path(cache_dir) / f"{kind}-{name}-{fingerprint[:12]}" if cache_dir else None
        if self.dir:
            self.dir.mkdir(parents=True, exist_ok=True)

    def get(self, key):
        if key in self.memory:
            return self.memory[key]
        if self.dir and (self.dir / f"{key}.safetensors").is_file():
            value = load_file(str(self.dir / f"{key}.safetensors"))["value"]
            self.memory[key] = value
            return value
        return None

    def put(self, key, value):
        self.memory[key] = value
        if self.dir:  # atomic: concurrent runs (or ranks) may write the same entry
            fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")
            os.close(fd)
            save_file({"value": value.contiguous()}, tmp)
            os.replace(tmp, self.dir / f"{key}.safetensors")


class FeatureCache:
    """Compute-once store of F(low) (3,H,W) and G(flips of low) (4,D), on the full image.

    restorer / prior: the frozen F and G (e.g. ``refiner.restorer``, ``refiner.prior``); names are used in
    the disk folder names. ``cache_dir``: optional folder for on-disk entries (reused across runs).
    ``cache_restored=False`` (joint fine-tuning of F) stores only the prior.
    ``prior_input="restored"``: G sees F's output instead of the low image (PTGRefiner.prior_input);
    ``global_prior=False``: g is zero (PTGRefiner prior_mode="dense"); ``dense=True``: also G's dense maps
    (:func:`ptg_refine.priors.dense.dense_feature_maps`, stored as float16) of the unflipped full image.
    """

    def __init__(self, restorer, prior, restorer_name: str = "restorer", prior_name: str = "prior",
                 cache_dir=None, device="cpu", cache_restored: bool = True, prior_input: str = "low",
                 global_prior: bool = True, dense: bool = False):
        self.restorer, self.prior, self.device = restorer, prior, torch.device(device)
        self.cache_restored = cache_restored
        self.prior_input, self.global_prior, self.dense = prior_input, global_prior, dense
        self._restored = _Store("restored", restorer_name, model_fingerprint(restorer), cache_dir) \
            if cache_restored else None
        on = "" if prior_input == "low" else f"_on_{restorer_name}"
        self._prior = _Store("prior" + on, prior_name, model_fingerprint(prior), cache_dir)
        self._dense = _Store("dense" + on, prior_name, model_fingerprint(prior), cache_dir) if dense else None
        self._prior_name, self._cache_dir = prior_name, cache_dir
        self._views: dict[int, _Store] = {}
        self.hits = self.misses = 0

    @torch.no_grad()
    def restored(self, low_uint8: torch.Tensor, key: str | None = None) -> torch.Tensor:
        if not self.cache_restored:
            raise RuntimeError("this FeatureCache was built with cache_restored=False")
        key = key or image_hash(low_uint8)
        value = self._restored.get(key)
        if value is None:
            self.misses += 1
            low = low_uint8.float().div(255)[None].to(self.device)
            value = self.restorer(low)[0].float().cpu()
            self._restored.put(key, value)
        else:
            self.hits += 1
        return value

    def _prior_input(self, low_uint8, key):
        if self.prior_input == "low":
            return low_uint8.float().div(255)[None].to(self.device)
        restored = self.restored(low_uint8, key) if self.cache_restored else \
            self.restorer(low_uint8.float().div(255)[None].to(self.device))[0]
        return restored.clamp(0, 1)[None].to(self.device)

    @torch.no_grad()
    def prior_features(self, low_uint8: torch.Tensor, key: str | None = None) -> torch.Tensor:
        """(4,D): g of the image in its four flip states (:data:`~ptg_refine.data.crops.FLIP_DIMS`)."""
        if not self.global_prior:
            return torch.zeros(4, int(self.prior.feature_dim))
        key = key or image_hash(low_uint8)
        value = self._prior.get(key)
        if value is None:
            self.misses += 1
            low = self._prior_input(low_uint8, key)
            value = torch.cat([self.prior(low.flip(d) if d else low) for d in FLIP_DIMS]).float().cpu()
            self._prior.put(key, value)
        else:
            self.hits += 1
        return value

    @torch.no_grad()
    def prior_views(self, low_uint8: torch.Tensor, views: int, key: str | None = None) -> torch.Tensor:
        """(views, D) prior features of ``views`` augmented views of the low image
        (:func:`~ptg_refine.training.augment.prior_view_images`). The views are drawn from a generator seeded by the
        image hash, so they are the same in every run (and shared on disk, folder ``priorviews<V>-...``).
        Training only (``TrainConfig.prior_views``); validation and inference use :meth:`prior_features`."""
        key = key or image_hash(low_uint8)
        store = self._views.get(views)
        if store is None:
            store = self._views[views] = _Store(f"priorviews{views}", self._prior_name,
                                                model_fingerprint(self.prior), self._cache_dir)
        value = store.get(key)
        if value is None:
            self.misses += 1
            gen = torch.Generator().manual_seed(int(key[:15], 16))
            low = low_uint8.float().div(255)
            value = torch.cat([self.prior(v[None].to(self.device)) for v in prior_view_images(low, views, gen)])
            value = value.float().cpu()
            store.put(key, value)
        else:
            self.hits += 1
        return value

    @torch.no_grad()
    def dense_features(self, low_uint8: torch.Tensor, key: str | None = None) -> torch.Tensor:
        """(C,h,w) float32: G's dense maps of the (unflipped) full image; a flipped crop uses the flipped map."""
        if self._dense is None:
            raise RuntimeError("this FeatureCache was built with dense=False")
        key = key or image_hash(low_uint8)
        value = self._dense.get(key)
        if value is None:
            self.misses += 1
            from ..priors.dense import dense_feature_maps

            value = dense_feature_maps(self.prior, self._prior_input(low_uint8, key))[0].half().cpu()
            self._dense.put(key, value)
        else:
            self.hits += 1
        return value.float()

    def warm(self, pairs, progress: bool = True, desc: str = "caching F/G"):
        """Fill the cache for every pair (a list of :class:`Pair`); returns the image keys in order."""
        from tqdm import tqdm

        keys = []
        for pair in tqdm(pairs, desc=desc, disable=not progress, unit="img"):
            key = image_hash(pair.low)
            if self.cache_restored:
                self.restored(pair.low, key)
            self.prior_features(pair.low, key)
            if self.dense:
                self.dense_features(pair.low, key)
            keys.append(key)
        return keys
