"""torch.distributed for :class:`~ptg_refine.training.Trainer`: set-up from ``torchrun``'s environment and the few
collective steps training needs (rank 0 first, barriers, gathering per-rank state). Without an initialised process
group every helper is the single-process no-op, so the Trainer's code reads the same in both cases."""
from __future__ import annotations

import contextlib
import os

import torch
import torch.distributed as dist
from torch import nn


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) when not distributed."""
    if is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed_from_env() -> bool:
    """Initialise torch.distributed when launched by torchrun (WORLD_SIZE > 1); gloo on CPU, nccl on CUDA."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or is_initialized():
        return is_initialized()
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return True


def barrier() -> None:
    """Wait for every rank (nothing to wait for in a single process)."""
    if rank_and_world()[1] > 1:
        dist.barrier()


@contextlib.contextmanager
def rank_zero_first():
    """Run the block on rank 0 first and on the other ranks after it (e.g. rank 0 fills an on-disk cache that
    the others then read)."""
    rank, world = rank_and_world()
    if world > 1 and rank != 0:
        dist.barrier()
    yield
    if world > 1 and rank == 0:
        dist.barrier()


def gather(obj) -> list:
    """``obj`` of every rank, in rank order (``[obj]`` in a single process)."""
    world = rank_and_world()[1]
    if world == 1:
        return [obj]
    out = [None] * world
    dist.all_gather_object(out, obj)
    return out


def data_parallel(module: nn.Module) -> nn.Module:
    """``module`` wrapped in DistributedDataParallel when more than one process trains, else itself."""
    return nn.parallel.DistributedDataParallel(module) if rank_and_world()[1] > 1 else module
