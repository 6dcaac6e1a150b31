"""Quality of F alone vs F+R for every low-light baseline, and the prior ablation for SCI and IAT.

All pairs are SYNTHETIC (ptg-refine synth, camera-like degradation of clean photos; see README):
training on clean/train of the data root (PTG_DATA_DIR, default ../shared/data; 181 photos x 2 variants, long
side <= 512), validation on the 18 McMaster photos of its clean/val (1 variant, seed 1). F is frozen; R (Lite0 prior projected
to 128-d, 0.64M parameters) is trained with the same budget and seeds for every row. PSNR (dB) / SSIM as in
ptg_refine.evaluate (RGB, [0,1], PSNR, pytorch_msssim SSIM 11x11 Gaussian sigma 1.5), mean ± standard
error over the 18 images of the per-image value averaged over the seeds. Train time: wall-clock seconds of
the training steps of one run (F/G caching excluded, it is done once per image and shared via --cache), 1 thread
per run.

Command (results are appended to results/quality_runs.jsonl; runs whose name and configuration hash are already
there are skipped on re-runs; ``python -m benchmarks quality ...`` is the same):

    ptg-refine synth --clean "${PTG_DATA_DIR:-../shared/data}/clean/train" --out data/train2 --variants 2 --seed 0 --max-side 512
    ptg-refine synth --clean "${PTG_DATA_DIR:-../shared/data}/clean/val" --out data/val --variants 1 --seed 1
    python -m benchmarks quality --train data/train2 --val data/val --cache cache/ --jobs 2
    python -m benchmarks quality --train data/train2 --val data/val --cache cache/ --jobs 2 --extra-seeds

(the second line adds seeds 2 and 3 of the none / pretrained-Lite0 runs for SCI and IAT, ~20 more minutes.)
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

from benchmarks._paths import REPO, RESULTS
from benchmarks._runs import fmt, is_done, load_done, run_config, seed_mean, train_and_eval
from ptg_refine.data import PairedFolder
from ptg_refine.evaluate import mean_se
from ptg_refine.training import TrainConfig

RUNS = RESULTS / "quality_runs.jsonl"
ITERATIONS, BATCH, CROP, SEEDS, LR = 300, 4, 128, (0, 1), 1e-3
RECIPE = {"prior_proj_dim": 128, "prior_dropout": 0.0, "prior_noise": 0.0, "prior_weight_decay": None}
BASELINES = ["zero_dce", "zero_dce_pp", "sgz", "sci", "iat"]
ZERO_REFERENCE = {"zero_dce", "zero_dce_pp", "sgz", "sci"}
PRIORS = {"none": ("none:1280", False), "lite0-random": ("efficientnet_lite0", False),
          "lite0": ("efficientnet_lite0", True)}
ABLATION = ["sci", "iat"]
EXTRA_SEEDS = (2, 3)  # --extra-seeds: more seeds for the none vs pretrained comparison only


def extra_runs():
    return [(b, p, s) for b in ABLATION for p in ("none", "lite0") for s in EXTRA_SEEDS]


def all_runs():
    runs = []
    for b in BASELINES:
        for p in (PRIORS if b in ABLATION else ["lite0"]):
            runs += [(b, p, s) for s in SEEDS]
    return runs


def run_args(restorer, prior_key, seed, train, val, cache):
    """(args, kwargs) of train_and_eval for one run of the table."""
    prior, pretrained = PRIORS[prior_key]
    real = prior_key != "none"  # prior regularisers only where there is a prior (noise on g = 0 would add one)
    cfg = TrainConfig(iterations=ITERATIONS, batch_size=BATCH, crop_size=CROP, lr=LR, seed=seed, log_every=20,
                      prior_noise=RECIPE["prior_noise"] if real else 0.0, prior_weight_decay=RECIPE["prior_weight_decay"])
    return ((restorer, prior, pretrained, train, val, cfg, cache),
            {"prior_proj_dim": RECIPE["prior_proj_dim"], "prior_dropout": RECIPE["prior_dropout"]})


def config_of(args, kwargs) -> dict:
    restorer, prior, pretrained, train, val, cfg, _ = args
    return run_config(restorer, prior, pretrained, cfg, train, val, **kwargs)


def report(rows) -> str:
    def group(b, p, seeds=None):
        return sorted((r for r in rows.values() if r["restorer"] == b and r["prior_key"] == p
                       and (seeds is None or r["seed"] in seeds)), key=lambda r: r["seed"])

    anyrow = next(iter(rows.values()))
    lines = ["# Quality on SYNTHETIC low-light pairs (F alone vs F+R)", "",
             "Command: `python -m benchmarks quality --train data/train2 --val data/val --cache cache/ --jobs 2` "
             "(and `--extra-seeds`; see benchmarks/quality.py).", "",
             f"Validation: {len(anyrow['names'])} synthetic pairs from clean/val McMaster. Training: synthetic pairs "
             f"from clean/train (181 photos x 2 variants). Budget per run: {ITERATIONS} iterations x {BATCH} crops of "
             f"{CROP}x{CROP}, AdamW lr {LR} cosine, Charbonnier + 0.1(1-SSIM), seeds {list(SEEDS)}; R with the "
             f"EfficientNet-Lite0 prior: {anyrow['params_R']:,} parameters (Lite0 projected to "
             f"{RECIPE['prior_proj_dim']}-d). Recipe: {RECIPE}. PSNR dB / SSIM: mean ± s.e. over images "
             "(per-image values averaged over seeds). Train s: training-step wall time per run, 1 thread.", "",
             "| F | F PSNR | F SSIM | F+R PSNR | F+R SSIM | ΔPSNR (paired) | target | met | train s/run |",
             "|---|---|---|---|---|---|---|---|---|"]
    for b in BASELINES:
        rs = group(b, "lite0", SEEDS)
        if not rs:
            continue
        d = [x - y for x, y in zip(seed_mean(rs, "psnr_F+R"), seed_mean(rs, "psnr_F"))]
        target = 1.5 if b in ZERO_REFERENCE else 0.5
        lines.append(f"| {b} | {fmt(seed_mean(rs, 'psnr_F'))} | {fmt(seed_mean(rs, 'ssim_F'), 4)} | "
                     f"{fmt(seed_mean(rs, 'psnr_F+R'))} | {fmt(seed_mean(rs, 'ssim_F+R'), 4)} | {fmt(d)} | "
                     f">= {target} dB | {'yes' if mean_se(d)[0] >= target else 'NO'} | "
                     f"{sum(r['train_seconds'] for r in rs) / len(rs):.0f} |")
    lines += ["", "## Prior ablation (same budget, same seeds)", "",
              "| F | prior | F+R PSNR | F+R SSIM | Δ vs none (paired) | train s/run |", "|---|---|---|---|---|---|"]
    for b in ABLATION:
        base = group(b, "none", SEEDS)
        for p in PRIORS:
            rs = group(b, p, SEEDS)
            if not rs:
                continue
            delta = fmt([x - y for x, y in zip(seed_mean(rs, "psnr_F+R"), seed_mean(base, "psnr_F+R"))]) \
                if base and p != "none" and len(base) == len(rs) else "—"
            lines.append(f"| {b} | {p} | {fmt(seed_mean(rs, 'psnr_F+R'))} | {fmt(seed_mean(rs, 'ssim_F+R'), 4)} | "
                         f"{delta} | {sum(r['train_seconds'] for r in rs) / len(rs):.0f} |")
    lines += ["", "Target for the pretrained prior: Δ vs none >= 0.2 dB.", ""]
    extra = [(b, p) for b in ABLATION for p in ("none", "lite0")]
    if all(len(group(b, p)) == len(SEEDS) + len(EXTRA_SEEDS) for b, p in extra):
        seeds = sorted(SEEDS + EXTRA_SEEDS)
        lines += [f"## none vs pretrained Lite0 with {len(seeds)} seeds {seeds} (--extra-seeds)", "",
                  "| F | none F+R PSNR | lite0 F+R PSNR | Δ lite0 − none (paired) | per-seed Δ of the mean |",
                  "|---|---|---|---|---|"]
        for b in ABLATION:
            n, l = group(b, "none"), group(b, "lite0")
            d = [x - y for x, y in zip(seed_mean(l, "psnr_F+R"), seed_mean(n, "psnr_F+R"))]
            per = ", ".join(f"{mean_se(a['psnr_F+R'])[0] - mean_se(c['psnr_F+R'])[0]:+.2f}" for a, c in zip(l, n))
            lines.append(f"| {b} | {fmt(seed_mean(n, 'psnr_F+R'))} | {fmt(seed_mean(l, 'psnr_F+R'))} | {fmt(d)} | {per} |")
        lines.append("")
    lines += [
              "Per-seed mean F+R PSNR: " + "; ".join(f"{r['run']}: {mean_se(r['psnr_F+R'])[0]:.2f}"
                                                     for r in sorted(rows.values(), key=lambda r: r["run"]))]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--jobs", type=int, default=1, help="parallel worker processes (1 thread each)")
    ap.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--extra-seeds", action="store_true", help=f"also run seeds {EXTRA_SEEDS} of none / lite0 for SCI, IAT")
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if args.worker is None and args.jobs > 1:
        base = [sys.executable, "-m", "benchmarks.quality", "--train", args.train, "--val", args.val, "--cache", args.cache,
                "--jobs", str(args.jobs)] + (["--extra-seeds"] if args.extra_seeds else [])
        procs = [subprocess.Popen(base + ["--worker", str(w)], cwd=REPO) for w in range(args.jobs)]
        if any(p.wait() for p in procs):
            sys.exit("a worker failed")
    else:
        torch.set_num_threads(1)
        train, val = PairedFolder(args.train).pairs, PairedFolder(args.val).pairs
        todo = all_runs() + (extra_runs() if args.extra_seeds else [])
        if args.worker is not None:  # IAT runs first on worker 0: its F is the slowest to cache
            todo = todo[args.worker::args.jobs]
        for restorer, prior_key, seed in todo:
            run = f"{restorer}/{prior_key}/seed{seed}"
            run_args_, run_kwargs = run_args(restorer, prior_key, seed, train, val, args.cache)
            if is_done(load_done(RUNS), run, config_of(run_args_, run_kwargs)):
                continue
            row = {**train_and_eval(run, *run_args_, **run_kwargs), "prior_key": prior_key}
            with open(RUNS, "a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(f"{row['run']}: F {mean_se(row['psnr_F'])[0]:.2f} -> F+R {mean_se(row['psnr_F+R'])[0]:.2f} dB "
                  f"({row['train_seconds']:.0f} s)", flush=True)
        if args.worker is not None:
            return
    text = report(load_done(RUNS))
    (RESULTS / "quality.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
