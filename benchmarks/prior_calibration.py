"""Does the pretrained EfficientNet-Lite0 prior help R, and what makes it help? (issue 4, item 5)

All data are SYNTHETIC low-light pairs (ptg-refine synth; clean photos from /work/shared/data/clean).
F = SCI-medium (frozen). Every condition is trained with the same budget on 2 seeds; validation on the
18 synthetic McMaster pairs; figures are mean ± standard error over images of the per-image PSNR averaged
over seeds. "Δ vs none" is the paired per-image difference to the no-prior model (mean ± s.e.). The
diagnostics feed the trained model g = 0 or another image's g at test time: if that scores as well as the
image's own g, the prior path carries no useful image-specific information.

Prior-feature augmentation (conditions lite0-views8-K2, lite0-cropmix-K2; TrainConfig.prior_views /
prior_crop_mix, training only): g of a training crop is G of one of 8 cached augmented views of its low image
(random resized crop of 50-100 % of the area, flip, gain and gamma in [0.8, 1.25]; data.crops.prior_view_images),
or the full-image g mixed 50/50 with G of the crop; validation and the diagnostics use the full-image g.

Command (about 50 min as two processes on 2 shared CPU cores; runs are appended to results/prior_calibration_runs.jsonl and
skipped when present, so it can be split across processes with --conditions / --seeds and resumed):

    python benchmarks/prior_calibration.py --train2 /work/tmp_ptg/train2 --train4 /work/tmp_ptg/train4 \
        --val /work/tmp_ptg/val --cache /work/tmp_ptg/cache --threads 1

and, for the 4-seed comparison of the prior-feature augmentation (another ~15 min as two processes),

    python benchmarks/prior_calibration.py ... --conditions none-K2 lite0-views8-K2 --seeds 2   # and --seeds 3

where the folders were made with
    ptg-refine synth --clean /work/shared/data/clean/train --out /work/tmp_ptg/train4 --variants 4 --seed 0 --max-side 512
    ptg-refine synth --clean /work/shared/data/clean/train --out /work/tmp_ptg/train2 --variants 2 --seed 0 --max-side 512
    ptg-refine synth --clean /work/shared/data/clean/val --out /work/tmp_ptg/val --variants 1 --seed 1
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from _runs import fmt, load_done, seed_mean, train_and_eval
from ptg_refine.data import PairedFolder
from ptg_refine.evaluate import mean_se
from ptg_refine.training import TrainConfig

RESULTS = Path(__file__).parent / "results"
ITERATIONS, BATCH, CROP, SEEDS = 400, 4, 128, (0, 1)
REG = {"prior_proj_dim": 32, "prior_dropout": 0.3, "prior_noise": 0.5, "prior_weight_decay": 0.1}
# name: (data, prior, pretrained, regularised, description)
CONDITIONS = {
    "none-K2": ("train2", "none:1280", False, False, "no prior (g = 0), 2 variants/image"),
    "lite0-K2": ("train2", "efficientnet_lite0", True, False, "pretrained Lite0, proj 128, 2 variants/image"),
    "lite0-K4": ("train4", "efficientnet_lite0", True, False, "pretrained Lite0, proj 128, 4 variants/image"),
    "lite0-reg-K2": ("train2", "efficientnet_lite0", True, True,
                     "pretrained Lite0, proj 32 + dropout 0.3 + noise 0.5 + prior wd 0.1, 2 variants/image"),
    "lite0-reg-K4": ("train4", "efficientnet_lite0", True, True,
                     "pretrained Lite0, proj 32 + dropout 0.3 + noise 0.5 + prior wd 0.1, 4 variants/image"),
    "lite0-views8-K2": ("train2", "efficientnet_lite0", True, False,
                        "pretrained Lite0, proj 128, 2 variants/image, training g = G of 1 of 8 cached augmented "
                        "views (crop 50-100 % area, flip, gain/gamma 0.8-1.25)"),
    "lite0-cropmix-K2": ("train2", "efficientnet_lite0", True, False,
                         "pretrained Lite0, proj 128, 2 variants/image, training g = normalise(0.5 g + 0.5 G(crop))"),
}
# prior-feature augmentation (TrainConfig options, training only; validation uses the full-image g as usual)
TRAIN_EXTRA = {"lite0-views8-K2": {"prior_views": 8}, "lite0-cropmix-K2": {"prior_crop_mix": 0.5}}


def _row(name, desc, rs, base) -> str:
    """One table row for the runs ``rs`` of a condition, paired with the none-K2 runs of the same seeds."""
    seeds = [r["seed"] for r in rs]
    b_rs = sorted((r for r in base if r["seed"] in seeds), key=lambda r: r["seed"])
    b = seed_mean(b_rs, "psnr_F+R") if len(b_rs) == len(rs) else None
    fr = seed_mean(rs, "psnr_F+R")
    delta = fmt([x - y for x, y in zip(fr, b)]) if b and name != "none-K2" else "—"
    diag = []
    for k in ("psnr_zero_g", "psnr_other_g"):
        if k not in rs[0]:
            diag.append("—")
            continue
        v = seed_mean(rs, k)
        diag.append(fmt(v) + (f" (Δ {fmt([x - y for x, y in zip(v, b)])})" if b else ""))
    loss = sum(r["final_loss_ema"] for r in rs) / len(rs)
    secs = sum(r["train_seconds"] for r in rs) / len(rs)
    return (f"| {name}: {desc} | {','.join(map(str, seeds))} | {fmt(seed_mean(rs, 'psnr_F'))} | {fmt(fr)} | "
            f"{delta} | {diag[0]} | {diag[1]} | {loss:.4f} | {secs:.0f} |")


def report(rows) -> str:
    by = {}
    for r in rows.values():
        by.setdefault(r["condition"], []).append(r)
    by = {k: sorted(v, key=lambda r: r["seed"]) for k, v in by.items()}
    base = by.get("none-K2", [])
    head = ["| condition | seeds | F (SCI) | F+R | Δ vs none (paired) | F+R with g=0 (Δ vs none) | "
            "F+R with other image's g (Δ vs none) | final train loss | train s/run |", "|---|---|---|---|---|---|---|---|---|"]
    lines = ["# Prior calibration (SYNTHETIC data): SCI-medium + R", "",
             f"Budget per run: {ITERATIONS} iterations x {BATCH} crops of {CROP}x{CROP}, AdamW lr 1e-3 cosine, "
             f"1 CPU thread; seeds {list(SEEDS)}. Validation: 18 synthetic McMaster pairs. PSNR in dB, "
             "mean ± s.e. over images (per-image values averaged over seeds); Δ: paired per image with none-K2 of "
             "the same seeds.", ""] + head
    for name, (_, _, _, _, desc) in CONDITIONS.items():
        rs = [r for r in by.get(name, []) if r["seed"] in SEEDS]
        if rs:
            lines.append(_row(name, desc, rs, base))
    lines += ["", "lite0-views8 / lite0-cropmix: prior-feature augmentation during training only (TrainConfig.prior_views = 8 "
              "/ prior_crop_mix = 0.5); validation and the g diagnostics use the plain full-image g. "
              "train s/run depends on the load of the shared machine and on the version of R's code at the time "
              "(the augmentation runs and none-K2 seeds 2-3 ran after a channels-last change to R_d): not comparable "
              "across rows."]
    more = [n for n in CONDITIONS if any(r["seed"] not in SEEDS for r in by.get(n, []))]
    if more:
        lines += ["", "## Conditions run on more seeds (--seeds), all their seeds", ""] + head
        lines += [_row(n, CONDITIONS[n][4], by[n], base) for n in more]
        for n in more:
            if n == "none-K2":
                continue
            per = []
            for r in by[n]:
                bs = [x for x in base if x["seed"] == r["seed"]]
                if bs:
                    per.append(f"seed {r['seed']}: {mean_se(r['psnr_F+R'])[0] - mean_se(bs[0]['psnr_F+R'])[0]:+.2f}"
                               + (f" (g=0: {mean_se(r['psnr_zero_g'])[0] - mean_se(bs[0]['psnr_F+R'])[0]:+.2f})"
                                  if "psnr_zero_g" in r else ""))
            lines += ["", f"{n}: per-seed Δ of the mean F+R PSNR vs none-K2 — " + "; ".join(per)]
    lines += ["", "Per-seed mean F+R PSNR: " + "; ".join(
        f"{r['condition']} seed {r['seed']}: {mean_se(r['psnr_F+R'])[0]:.2f}" for r in
        sorted(rows.values(), key=lambda r: (r["condition"], r["seed"])))]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train2", required=True)
    ap.add_argument("--train4", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--conditions", nargs="*", default=list(CONDITIONS))
    ap.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS), help="subset of the seeds (to split runs)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    RESULTS.mkdir(exist_ok=True)
    runs_file = RESULTS / "prior_calibration_runs.jsonl"
    val = PairedFolder(args.val).pairs
    data = {}
    for cond in args.conditions:
        src, prior, pretrained, reg, _ = CONDITIONS[cond]
        for seed in args.seeds:
            run = f"{cond}/seed{seed}"
            if run in load_done(runs_file):
                continue
            if src not in data:
                data[src] = PairedFolder(getattr(args, src)).pairs
            extra = {k: v for k, v in REG.items() if k in ("prior_noise", "prior_weight_decay")} if reg else {}
            extra.update(TRAIN_EXTRA.get(cond, {}))
            cfg = TrainConfig(iterations=ITERATIONS, batch_size=BATCH, crop_size=CROP, lr=1e-3, seed=seed,
                              log_every=20, **extra)
            row = train_and_eval(run, "sci", prior, pretrained, data[src], val, cfg, args.cache,
                                 prior_proj_dim=REG["prior_proj_dim"] if reg else 128,
                                 prior_dropout=REG["prior_dropout"] if reg else 0.0,
                                 diagnostics=prior != "none:1280")
            row["condition"] = cond
            with open(runs_file, "a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(f"{run}: F {mean_se(row['psnr_F'])[0]:.2f} F+R {mean_se(row['psnr_F+R'])[0]:.2f} dB "
                  f"({row['train_seconds']:.0f} s)", flush=True)
    text = report(load_done(runs_file))
    (RESULTS / "prior_calibration.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
