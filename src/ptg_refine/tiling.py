"""Tiled inference: refine images of any size in bounded memory, with the untiled result.

How a tiled pass stays equal to the untiled one:

1. **Prior once.** g = G(I_d) is computed on the whole image (priors resize their input anyway) and
   shared by every tile.
2. **Positions.** Each tile passes ``position=(top, left, H, W)``, so the coordinate embeddings S_m, S_c
   (PTG-RM, Xu et al., CVPR 2024, Eq. 2, 5) see full-image coordinates. Tile windows start at multiples of
   4 pixels, so their latent (stride-4) grids are sub-grids of the full image's.
3. **Whole-image statistics.** R has global operations (2 InstanceNorms, the q̂k̂ᵀ of 4 transposed-attention
   blocks, the global pool of R_c). With ``stats="exact"`` (default) their statistics are accumulated
   exactly over tiles, one operation per pass (see ``modules/global_stats.py``). The passes stop at the
   operation they collect and reuse what earlier passes computed (R_e's latent output, finished R_l
   blocks, PTG-SVE's output, kept per tile at 1/16 resolution), so all of them together cost about as
   much as R_e, R_l and PTG-SVE once; the last pass runs PTG-CSA and R_d. ``stats="tile"`` lets every
   tile use its own statistics (the naive way; for comparison only).
4. **Context.** Every tile is run on a window ``context`` pixels larger on each side than the part it
   contributes; the extra border (where zero padding stands in for neighbouring pixels) is discarded.
   The default context is R's receptive-field radius (:func:`receptive_field`), so the kept part is exact.
5. **Blending.** Neighbouring tiles' contributions overlap by ``overlap`` pixels and are blended with a
   separable raised-cosine window whose weights sum to one; with exact tiles it only hides rounding, with
   ``stats="tile"``, a smaller context or a tiled F it hides seams.

The tiled output equals the untiled one up to float rounding (measured in ``benchmarks/speed.py``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ._validation import check_refinement_inputs
from ._stride import STRIDE
from .modules.global_stats import StatsContext, StopPass

STATS_MODES = ("exact", "tile")
DEFAULT_OVERLAP = 32  # pixels over which neighbouring tiles are blended, lowered to fit small tiles


def default_overlap(tile: int) -> int:
    """:data:`DEFAULT_OVERLAP`, lowered to fit the tile: at most tile/4, a multiple of the stride."""
    return min(DEFAULT_OVERLAP, tile // 4 // STRIDE * STRIDE)


def tiling_args(tile, overlap=None, context=None, stats="exact") -> int | None:
    """The checked overlap of ``tile`` (the one rule of ``enhance(tile=, overlap=)`` and ``ptg-refine enhance --tile
    --overlap``): ``overlap`` None is :func:`default_overlap`; without a tile there is nothing to blend, so an
    overlap then is an error. Returns the overlap (None without a tile)."""
    if tile is None:
        if overlap is not None:
            raise ValueError("overlap needs tile=<pixels>")
        return None
    if overlap is None and isinstance(tile, int) and not isinstance(tile, bool):
        overlap = default_overlap(tile)
    check_tiling_args(tile, overlap, context, stats)
    return overlap


def receptive_field(net) -> int:
    """Radius in input pixels (a multiple of 4) beyond which R's output no longer depends on its input,
    once the global statistics are fixed.

    Counted in latent (stride-4) cells: R_e 1 (its three convolutions span 4 px before and 1 px after a
    cell), R_l 2 per block (two depthwise 3x3 per block; R_m and R_s span 2 in parallel), PTG-CSA 4 (R_p 2,
    the per-position filter 1, R_o 1), R_d 3 (one conv at 1/4, one at 1/2, two at full resolution), plus
    one cell for the rounding of positions to cells. (Perturbing one input pixel of the default R, with
    statistics fixed, changed outputs up to 58 px away; this returns 68.) The fast settings: a light R_p
    (``kernel_hidden``, its second layer 1x1) spans 1 cell, and R_d at ``resolution="half"`` 4 (two convolutions
    and the heads at 1/2, 6 px; the guided upsampling's two 5x5 box filters at 1/2, 8 px; the 2x2 means and the
    bilinear step).
    """
    blocks = len(net.sve.long_range)
    kernel_predictor = 1 if isinstance(net.csa.kernel_predictor[2], nn.Conv2d) and \
        net.csa.kernel_predictor[2].kernel_size == (1, 1) else 2
    decoder = 4 if net.decoder.guided is not None else 3
    return STRIDE * (1 + max(2 * blocks, 2) + 2 + kernel_predictor + decoder + 1)


@dataclass(frozen=True)
class Span:
    """One tile along one axis: it contributes to [support) with ``weight``, owns [zone) for the statistics
    and is computed on [window) (all in pixels of the full image, end exclusive)."""

    zone: tuple[int, int]
    support: tuple[int, int]
    window: tuple[int, int]
    weight: torch.Tensor  # over the support


def _ramp(n: int) -> torch.Tensor:
    """Raised cosine rising over n samples; ramp(n) + ramp(n).flip(0) == 1."""
    t = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    return 0.5 - 0.5 * torch.cos(math.pi * t)


def plan_axis(n: int, tile: int, overlap: int, context: int) -> list[Span]:
    """Split an axis of n pixels into spans of at most ``tile`` (+3) pixels overlapping by ``overlap``.

    Zone boundaries are multiples of 4; each span's support is its zone widened by overlap/2 at inner
    boundaries; its window is the support widened by ``context`` (clipped to the image), starting at a
    multiple of 4. The weights of all spans sum to one at every pixel. With overlap <= tile/4 every zone is
    at least ``overlap`` long, so the ramps at its two ends never meet.
    """
    count = 1 if n <= tile else math.ceil(n / (tile - overlap))  # zones <= tile - overlap (+3)
    bounds = [0] + [(i * n // count) // STRIDE * STRIDE for i in range(1, count)] + [n]
    half = overlap // 2
    spans = []
    for i in range(count):
        z0, z1 = bounds[i], bounds[i + 1]
        s0 = z0 - half if i > 0 else 0
        s1 = z1 + half if i < count - 1 else n
        w0 = max(0, s0 - context) // STRIDE * STRIDE
        w1 = min(n, -(-(s1 + context) // STRIDE) * STRIDE)
        weight = torch.ones(s1 - s0, dtype=torch.float64)
        if i > 0 and overlap:
            weight[:overlap] = _ramp(overlap)
        if i < count - 1 and overlap:
            weight[-overlap:] = _ramp(overlap).flip(0)
        spans.append(Span((z0, z1), (s0, s1), (w0, w1), weight))
    return spans


def check_tiling_args(tile, overlap, context=None, stats="exact") -> None:
    """Raise a clear error for unusable tiling parameters."""
    for name, v in (("tile", tile), ("overlap", overlap)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int (pixels), got {type(v).__name__}")
    if tile < 32 or tile % STRIDE:
        raise ValueError(f"tile must be a multiple of {STRIDE} and at least 32 pixels, got {tile}")
    if overlap < 0 or overlap % STRIDE or overlap > tile // 4:
        raise ValueError(f"overlap must be a multiple of {STRIDE} between 0 and tile/4 = {tile // 4}, got {overlap}")
    if context is not None and (isinstance(context, bool) or not isinstance(context, int)
                                or context < 0 or context % STRIDE):
        raise ValueError(f"context must be None (R's receptive field) or a multiple of {STRIDE} >= 0, got {context!r}")
    if stats not in STATS_MODES:
        raise ValueError(f"stats must be one of {STATS_MODES}, got {stats!r}")


def _tiles(shape, tile, overlap, context):
    h, w = shape[-2:]
    return [(ys, xs) for ys in plan_axis(h, tile, overlap, context) for xs in plan_axis(w, tile, overlap, context)]


def _window(x, ys: Span, xs: Span):
    return x[..., ys.window[0]:ys.window[1], xs.window[0]:xs.window[1]]


def _accumulate(acc, y, ys: Span, xs: Span):
    """acc[support] += y[support] * weight, with y computed on the window."""
    (a0, a1), (b0, b1) = ys.support, xs.support
    part = y[..., a0 - ys.window[0]:a1 - ys.window[0], b0 - xs.window[0]:b1 - xs.window[0]]
    weight = (ys.weight[:, None] * xs.weight[None, :]).to(device=y.device, dtype=acc.dtype)
    acc[..., a0:a1, b0:b1] += part.to(acc.dtype) * weight


@torch.no_grad()
def _tiled_map(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int = 512, overlap: int | None = None,
               context: int = 64) -> torch.Tensor:
    """Apply an image-to-image ``fn`` (e.g. a restorer F) tile by tile and blend the tiles.

    Exact only for a purely local fn whose receptive-field radius is <= context; a fn with global
    operations (e.g. IAT's global branch) sees each window on its own.
    """
    overlap = tiling_args(tile, overlap, context)
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"tiled_map needs a (B,C,H,W) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    return _map_tiles(fn, x, tile, overlap, context)


def _map_tiles(fn, x, tile, overlap, context):
    out = None
    for ys, xs in _tiles(x.shape, tile, overlap, context):
        y = fn(_window(x, ys, xs))
        if out is None:
            out = y.new_zeros(*y.shape[:-2], *x.shape[-2:])
        _accumulate(out, y, ys, xs)
    return out


@torch.no_grad()
def _refine_tiled(net, low: torch.Tensor, restored: torch.Tensor, prior_features: torch.Tensor, tile: int = 512,
                  overlap: int | None = None, context: int | None = None, stats: str = "exact",
                  dense=None) -> torch.Tensor:
    """R (a :class:`~ptg_refine.modules.RefinementNetwork`) on (low, restored, g) tile by tile; not clamped.

    Same result as ``net(low, restored, prior_features)`` up to float rounding (``stats="exact"`` and the
    default context); peak memory grows with (tile + 2*context)², not with the image. dense: the dense
    prior maps of the whole image (networks with a dense prior path), sampled per tile at its position.
    """
    overlap = tiling_args(tile, overlap, context, stats)
    check_refinement_inputs(low, restored, prior_features, net.prior_dim)
    return _refine_tiles(net, low, restored, prior_features, tile, overlap, context, stats, dense)


def _refine_tiles(net, low, restored, prior_features, tile, overlap, context, stats, dense):
    """:func:`_refine_tiled` on checked arguments (:meth:`PTGRefiner.enhance` checks them once, up front)."""
    context = receptive_field(net) if context is None else context
    h, w = low.shape[-2:]
    tiles = _tiles(low.shape, tile, overlap, context)
    if len(tiles) == 1:
        return net(low, restored, prior_features, dense=dense)
    pad = lambda n: -(-n // STRIDE) * STRIDE  # noqa: E731  (R pads to a multiple of 4 at the bottom/right)
    ctx = StatsContext()

    def select(i):
        ys, xs = tiles[i]
        ctx.set_tile((pad(ys.window[1]) - ys.window[0], pad(xs.window[1]) - xs.window[0]),
                     (ys.zone[0] - ys.window[0], xs.zone[0] - xs.window[0],
                      (pad(h) if ys.zone[1] == h else ys.zone[1]) - ys.window[0],
                      (pad(w) if xs.zone[1] == w else xs.zone[1]) - xs.window[0]), i)
        return _window(low, ys, xs), _window(restored, ys, xs), (ys.window[0], xs.window[0], h, w)

    def encode(i):
        lo, re, _ = select(i)
        return net.encode(lo, re)

    def refine(i):
        lo, re, position = select(i)
        try:
            return net.refine_latent(latents[i], lo, re, prior_features, position, dense=dense)
        finally:
            if ctx.kept(net.sve, i):  # PTG-SVE's output is kept for this tile: R_e's is no longer needed
                latents[i] = None

    out = low.new_zeros(low.shape)

    def blend(i, y):  # only in the last pass: what was kept for the tile is no longer needed
        _accumulate(out, y, *tiles[i])
        latents[i] = None
        ctx.drop_tile(i)

    # Stage 1: R_e on every tile (with the InstanceNorm statistics of the whole image); its small latent
    # output (1/16 of the pixels) is kept, so the later passes need not recompute it.
    # Stage 2: the rest of R from the kept latents (attention / pool statistics, then the output).
    latents = [None] * len(tiles)
    if stats == "tile":
        for i in range(len(tiles)):
            latents[i] = encode(i)
            blend(i, refine(i))
        return out
    with ctx.attached(net):
        _multipass(ctx, len(tiles), encode, latents.__setitem__)
        _multipass(ctx, len(tiles), refine, blend)
    return out


def _multipass(ctx: StatsContext, count: int, fn, consume) -> None:
    """Run fn(i) on every tile until it completes: each pass that stops at a global operation whose
    statistics are unknown collects that operation's sums over all tiles (see modules/global_stats.py)."""
    while True:
        try:
            first = fn(0)
        except StopPass:
            for i in range(1, count):
                try:
                    fn(i)
                except StopPass:
                    continue
                raise RuntimeError("a tile ran past a global operation whose statistics are incomplete")
            ctx.finish_pass()
            continue
        consume(0, first)
        for i in range(1, count):
            consume(i, fn(i))
        return
