"""Tiled inference is safe next to untiled inference on the same refiner in another thread:
the whole-image statistics live in a context variable, not on the shared modules."""
from __future__ import annotations

import threading

import torch
from _nets import trained_looking

from ptg_refine.modules.global_stats import GlobalStatistics, StatsContext, StatsContextSlot
from ptg_refine.tiling import _refine_tiled

DIM = 8


def _inputs(seed, shape):
    gen = torch.Generator().manual_seed(seed)
    low = torch.rand(shape, generator=gen)
    return low, low.sqrt(), torch.randn(shape[0], DIM, generator=gen)


def test_tiled_and_untiled_in_two_threads_equal_sequential():
    net = trained_looking(prior_dim=DIM, width=8, num_blocks=2, prior_hidden=16, embed_dim=8)
    tiled_in, whole_in = _inputs(1, (1, 3, 120, 100)), _inputs(2, (1, 3, 72, 88))
    with torch.no_grad():
        tiled_ref = _refine_tiled(net, *tiled_in, tile=48, overlap=8)
        whole_ref = net(*whole_in)
    rounds = 6
    results = {"tiled": [], "whole": []}
    errors = []
    start = threading.Barrier(2)

    def run(kind):
        try:
            start.wait()
            with torch.no_grad():
                for _ in range(rounds):
                    out = _refine_tiled(net, *tiled_in, tile=48, overlap=8) if kind == "tiled" else net(*whole_in)
                    results[kind].append(out)
        except BaseException as e:  # noqa: BLE001  (reported by the main thread)
            errors.append((kind, e))

    threads = [threading.Thread(target=run, args=(k,)) for k in ("tiled", "whole")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert len(results["tiled"]) == len(results["whole"]) == rounds
    for out in results["tiled"]:
        assert torch.equal(out, tiled_ref)
    for out in results["whole"]:
        assert torch.equal(out, whole_ref)


def test_stats_context_is_per_thread_and_not_assignable():
    net = trained_looking(prior_dim=DIM, width=8, num_blocks=1, prior_hidden=16, embed_dim=8)
    parts = [m for m in net.modules() if isinstance(m, GlobalStatistics)]
    assert len(parts) == 5  # 2 InstanceNorms, PTG-SVE, its 1 attention block, PTG-CSA
    ctx = StatsContext()
    seen_elsewhere = []
    with ctx.attached(net):
        assert all(m.stats_context is ctx for m in parts)
        other = threading.Thread(target=lambda: seen_elsewhere.extend(m.stats_context for m in parts))
        other.start()
        other.join()
    assert seen_elsewhere == [None] * len(parts)
    assert all(m.stats_context is None for m in parts)
    assert all(isinstance(type(m).__dict__.get("stats_context") or getattr(type(m), "stats_context"),
                          StatsContextSlot) for m in parts)
    try:
        parts[0].stats_context = ctx
    except AttributeError:
        pass
    else:
        raise AssertionError("stats_context must not be assignable on a shared module")


def test_only_global_statistics_modules_take_part():
    """Participants are found by the GlobalStatistics mixin, not by an attribute name: a user module that
    happens to have a ``stats_context`` attribute is left alone, and attaching patches no class."""

    class UserModule(torch.nn.Module):
        stats_context = "mine"

    net = trained_looking(prior_dim=DIM, width=8, num_blocks=1, prior_hidden=16, embed_dim=8)
    net.extra = UserModule()
    before = {type(m): dict(vars(type(m))) for m in net.modules()}
    with StatsContext().attached(net):
        assert net.extra.stats_context == "mine"
    assert {type(m): dict(vars(type(m))) for m in net.modules()} == before


def test_slot_keeps_torch_compile_one_graph_after_tiling():
    """Once a tiled call has given the modules the per-thread slot, torch.compile(fullgraph=True) still
    captures the untiled network in one graph (the slot reads None while compiling)."""
    net = trained_looking(prior_dim=DIM, width=8, num_blocks=1, prior_hidden=16, embed_dim=8)
    low, restored, g = _inputs(3, (1, 3, 100, 90))
    with torch.no_grad():
        _refine_tiled(net, low, restored, g, tile=48, overlap=8)
        compiled = torch.compile(net, dynamic=True, fullgraph=True, backend="eager")
        torch.testing.assert_close(compiled(low, restored, g), net(low, restored, g), rtol=0, atol=1e-5)
