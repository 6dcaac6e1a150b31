"""Time of one training step of R (``Trainer.sample_batch`` + ``Trainer.train_step``), CPU.

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks step-time [--threads 2] [--steps 30]

The shipping recipe's batch (8 crops of 96 px) from 12 random 256x320 training pairs, for R with no prior and
with a random Lite0 prior on the global + dense paths. Median and quartiles over ``--steps`` steps after 3 warm-up
steps, written to ``benchmarks/results/train_step_time.md`` (one row per configuration and commit, appended).
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from ptg_refine import PTGRefiner
from ptg_refine.data import Pair
from ptg_refine.training import TrainConfig, Trainer

from benchmarks._paths import RESULTS
from benchmarks._runs import code_version, versions

CONFIGS = {"none": {"prior": "none"},
           "lite0-global+dense": {"prior": "efficientnet_lite0", "prior_pretrained": None, "prior_seed": 0,
                                  "prior_mode": "global+dense"}}


def pairs(n=12, size=(256, 320), seed=0):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        high = torch.randint(0, 256, (3, *size), generator=gen, dtype=torch.uint8)
        out.append(Pair(f"p{i}", (high.float() * 0.2).to(torch.uint8), high))
    return out


WARMUP = 3  # steps not timed


def shipping_trainer(refiner, steps):
    """A Trainer of ``refiner`` with the shipping recipe's batch (8 crops of 96 px) on :func:`pairs`, for
    ``WARMUP + steps`` steps."""
    return Trainer(refiner, pairs(), TrainConfig(iterations=steps + WARMUP, batch_size=8, crop_size=96),
                   progress=False)


def timed_step(trainer) -> float:
    """Seconds of one training step (``sample_batch`` + ``train_step``)."""
    t0 = time.perf_counter()
    trainer.train_step(trainer.sample_batch())
    return time.perf_counter() - t0


def time_steps(name, kwargs, steps):
    torch.manual_seed(0)
    trainer = shipping_trainer(PTGRefiner(restorer="sci", **kwargs), steps)
    times = [timed_step(trainer) for _ in range(steps + WARMUP)][WARMUP:]
    q = statistics.quantiles(times, n=4)
    return f"| {name} | {code_version()} | {torch.get_num_threads()} | {1000 * statistics.median(times):.0f} | " \
           f"{1000 * q[0]:.0f}–{1000 * q[2]:.0f} | {steps} |"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--out", default=str(RESULTS / "train_step_time.md"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if not out.is_file():
        out.write_text("# Training step time of R (CPU)\n\nCommand: `OMP_WAIT_POLICY=PASSIVE python -m benchmarks "
                       f"step-time`. {versions()}.\n\n| configuration | commit | threads | median ms/step | "
                       "quartiles ms | steps |\n|---|---|---|---|---|---|\n")
    for name, kwargs in CONFIGS.items():
        row = time_steps(name, kwargs, args.steps)
        print(row)
        with out.open("a") as f:
            f.write(row + "\n")


if __name__ == "__main__":
    main()
