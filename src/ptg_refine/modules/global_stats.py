"""Whole-image statistics for R's global operations, so that R can run tile by tile.

Seven operations of three kinds in R read statistics of the *whole* feature map, not of a neighbourhood:

* InstanceNorm in R_e (twice): per-channel mean and variance (Ulyanov et al., arXiv:1607.08022);
* the transposed attention of each R_l block (Zamir et al., "Restormer", CVPR 2022): q and k are
  L2-normalised over all pixels and q̂k̂ᵀ sums over all pixels;
* the global average pool O(·) of R_c (PTG-RM, Xu et al., CVPR 2024, Eq. 4).

Each of them depends only on *sums over pixels* (Σx, Σx², Σ q kᵀ, Σq², Σk²), which add up exactly over a
partition of the image. :class:`StatsContext` collects those sums tile by tile, one operation per pass
(pass k runs every tile up to the k-th global operation, with the statistics of the earlier ones already
fixed), then every tile runs the whole network with all statistics taken from the whole image. Sums are
accumulated in float64; with tiles that carry enough context (the receptive field of the local layers)
the tiled result equals the untiled one up to float rounding.

The protocol: a module takes part by inheriting :class:`GlobalStatistics` (found with ``isinstance``) and,
when its ``stats_context`` is not None, calling :meth:`StatsContext.resolve` for its statistics. The
attribute is a :class:`StatsContextSlot` that reads a :class:`contextvars.ContextVar`, so it is the
tiling's context only inside :meth:`StatsContext.attached` *in the thread (or asyncio task) that attached
it*, and None everywhere else. Nothing is written onto the shared modules, so a tiled and an untiled call
of the same refiner can run concurrently in two threads. So that the passes cost little, results that no
longer change are kept per tile between passes (:meth:`StatsContext.memo`,
:meth:`StatsContext.run_sequential`): R_l resumes at the block whose statistics are being collected, and
PTG-SVE runs once per tile.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable

import torch
from torch import nn

from .._stride import STRIDE


class StopPass(Exception):
    """Raised inside R's forward after a collection pass has taken what it needs from a tile."""


class StatsContext:
    """Whole-image statistics shared by all tiles of one image.

    ``window`` is the (padded, multiple-of-4) size in input pixels of the tile being run and ``core`` the
    (top, left, bottom, right) part of it that this tile contributes to the sums; cores partition the image.
    """

    def __init__(self):
        # keyed by the module objects themselves (identity hashing, and they stay alive while kept here)
        self.stats: dict[nn.Module, tuple[torch.Tensor, ...]] = {}
        self.pending: dict[nn.Module, tuple[list[torch.Tensor], Callable]] = {}
        self.window: tuple[int, int] | None = None
        self.core: tuple[int, int, int, int] | None = None
        self.tile: int | None = None
        self.cache: dict[tuple[nn.Module, int], object] = {}  # (module, tile) -> output kept between passes

    # -- driver side ----------------------------------------------------------------------------
    @contextmanager
    def attached(self, net: nn.Module):
        """Make this the ``stats_context`` of every :class:`GlobalStatistics` module of ``net``, for the
        duration and in the current thread / asyncio task only (a context variable; the modules are not
        modified)."""
        parts = frozenset(m for m in net.modules() if isinstance(m, GlobalStatistics))
        token = _ACTIVE.set((self, parts))
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    def set_tile(self, window_hw: tuple[int, int], core: tuple[int, int, int, int], index: int = 0) -> None:
        if any(v % STRIDE for v in (*window_hw, *core)):
            raise ValueError(f"tile window {window_hw} and core {core} must be multiples of {STRIDE} pixels")
        self.window, self.core, self.tile = window_hw, core, index

    def drop_tile(self, index: int) -> None:
        """Forget what was kept for tile ``index`` (once its final output is taken)."""
        for key in [k for k in self.cache if k[1] == index]:
            del self.cache[key]

    def finish_pass(self) -> None:
        """Turn the sums collected in this pass into statistics."""
        for key, (sums, finalise) in self.pending.items():
            self.stats[key] = finalise(*sums)
        self.pending.clear()

    # -- module side ----------------------------------------------------------------------------
    def memo(self, module: nn.Module, compute: Callable):
        """compute() once per tile: a later pass gets the kept result. Safe because a result only exists
        if compute() ran past every global operation inside it, i.e. with final statistics."""
        key = (module, self.tile)
        if key not in self.cache:
            result = compute()
            for m in module.modules():  # what was kept for its parts is no longer needed
                self.cache.pop((m, self.tile), None)
            self.cache[key] = result
        return self.cache[key]

    def kept(self, module: nn.Module, index: int) -> bool:
        """Whether :meth:`memo` holds ``module``'s result for tile ``index``."""
        return (module, index) in self.cache

    def run_sequential(self, blocks: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
        """blocks(x), resuming after the last block this tile completed in an earlier pass (a pass stops
        at the first block whose statistics are unknown; the blocks before it need not run again)."""
        key = (blocks, self.tile)
        start, x = self.cache.get(key, (0, x))
        for i in range(start, len(blocks)):
            x = blocks[i](x)
            self.cache[key] = (i + 1, x)
        return x

    def crop_core(self, x: torch.Tensor) -> torch.Tensor:
        """The core part of a (B,C,h,w) feature map of the current tile, at the map's own resolution."""
        scale = self.window[0] // x.shape[-2]
        if scale * x.shape[-2] != self.window[0] or scale * x.shape[-1] != self.window[1]:
            raise RuntimeError(f"feature map {tuple(x.shape)} is not a whole fraction of the tile {self.window}")
        top, left, bottom, right = (v // scale for v in self.core)
        return x[..., top:bottom, left:right]

    def resolve(self, module: nn.Module, x: torch.Tensor, sums: Callable, finalise: Callable):
        """Whole-image statistics of ``module`` (cast to x's dtype), or collect this tile's sums and stop.

        sums(core_of_x) -> tuple of float64 tensors that add over tiles; finalise(*totals) -> statistics.
        """
        key = module
        if key in self.stats:
            return tuple(s.to(device=x.device, dtype=x.dtype) for s in self.stats[key])
        part = sums(self.crop_core(x))
        if key in self.pending:
            totals = self.pending[key][0]
            for t, p in zip(totals, part):
                t.add_(p)
        else:
            self.pending[key] = ([p.clone() for p in part], finalise)
        raise StopPass


# (context, its modules) attached in the current thread / task by StatsContext.attached
_ACTIVE: ContextVar[tuple[StatsContext, frozenset[nn.Module]] | None] = ContextVar("ptg_refine_stats_context",
                                                                             default=None)


class StatsContextSlot:
    """``GlobalStatistics.stats_context``: reads as the :class:`StatsContext` attached to this module in the
    current thread / asyncio task, else None. Read-only: attach with :meth:`StatsContext.attached`."""

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        if torch.compiler.is_compiling():  # torch.compile / export trace the untiled network
            return None
        active = _ACTIVE.get()
        return active[0] if active is not None and obj in active[1] else None

    def __set__(self, obj, value):
        raise AttributeError("stats_context is per thread: use StatsContext.attached(net), not assignment")


class GlobalStatistics:
    """Mixin of the modules whose forward reads statistics of the whole feature map (see the module docstring).

    ``self.stats_context`` is None outside tiled inference (compute the statistics from the input as usual);
    inside :meth:`StatsContext.attached` it is the context, and the module gets its statistics from
    ``stats_context.resolve(self, x, sums, finalise)``."""

    stats_context = StatsContextSlot()


class GlobalInstanceNorm2d(GlobalStatistics, nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` (same parameters and state_dict keys) that can take whole-image statistics."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ctx = self.stats_context
        if ctx is None or self.track_running_stats:
            return super().forward(x)
        mean, var = ctx.resolve(self, x, _moment_sums, _moments)
        y = (x - mean[:, :, None, None]) * torch.rsqrt(var[:, :, None, None] + self.eps)
        if self.affine:
            y = y * self.weight[:, None, None] + self.bias[:, None, None]
        return y


def _moment_sums(x: torch.Tensor):
    x = x.double()
    n = torch.full((x.shape[0], 1), x.shape[-2] * x.shape[-1], dtype=torch.float64, device=x.device)
    return x.sum(dim=(2, 3)), x.square().sum(dim=(2, 3)), n


def _moments(s1, s2, n):
    mean = s1 / n
    return mean, (s2 / n - mean.square()).clamp_min(0)  # biased variance, as InstanceNorm
