"""Do no harm: ways to make a refiner that never saw a camera leave a good F alone there, compared with seeds.

The failing case (issue 25): R trained where F is weak, used on a camera where F is strong. Here R is trained
with F = IAT on the 63 REAL IR-RGB train pairs (IAT is weak there: 15.6 dB on IR-RGB val) and never sees the LOL
camera; it is scored on the 49 LOL val pairs (IAT strong there: 26.0 dB; IAT's weights were fitted on these pairs)
and on the 22 IR-RGB val pairs (where it should still help). Approaches (each 3 seeds, same recipe otherwise):

* ``plain``: the loss alone (Charbonnier + 0.1 SSIM), as every shipped refiner was trained.
* ``identity``: + w·(mean|I_m − 1| + mean|I_r|) (``TrainConfig.identity_weight``): R stays near F unless the
  training pairs pay for the change.
* ``bounded``: I_m ∈ 1 ± b, I_r ∈ ± b (``correction_bound``): a hard cap on what R can do to F's output.
* ``keep``: F-correct examples. The training set gets as many pairs again whose target IS F's output (synthetic
  low-light images of the ``camera`` preset made from the clean training photos, target = F(low)): R must learn to
  return F's output unless the input looks like the pairs where F was wrong. ``keep-all``: one such pair per clean
  training photo (181, about 3 for every real pair).

Recipe: the fast R (``benchmarks.fast_r.FAST``), no prior, 750 iterations, batch 8 crops of 96², AdamW lr 1e-3
cosine, 1 CPU thread. The leave-one-camera-out rule (``benchmarks real``): F + R ≥ F − 0.1 dB on average and worse on
≤ 30 % of the pairs of the unseen camera.

Command (two workers, one per core; rows in results/do_no_harm_runs.jsonl, skipped when recorded):

    python -m benchmarks do-no-harm &
    python -m benchmarks do-no-harm --order keep bounded identity plain &
    python -m benchmarks do-no-harm --report
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from benchmarks._paths import DATA, RESULTS
from benchmarks._runs import REPO, is_done, load_done, record_run, restorer, run_config, train_and_eval
from benchmarks.fast_r import FAST
from benchmarks.fewshot import BATCH, CROP, LR
from benchmarks.paper_protocol import _ms, evaluate_kept, lol_split
from benchmarks.prior_calibration import claim
from ptg_refine.data import PairedFolder
from ptg_refine.training import TrainConfig

RUNS = RESULTS / "do_no_harm_runs.jsonl"
WORK = REPO / "runs" / "do_no_harm"
PRIOR, ITERATIONS, SEEDS = "none:1280", 750, (0, 1, 2)
IDENTITY_WEIGHT, BOUND = 0.1, 0.25
# name: (refiner kwargs, TrainConfig extras, F-correct examples: 0, "same" (as many as the real pairs) or "all")
APPROACHES = {"plain": ({}, {}, 0), "identity": ({}, {"identity_weight": IDENTITY_WEIGHT}, 0),
              "bounded": ({"correction_bound": BOUND}, {}, 0), "keep": ({}, {}, "same"),
              "keep-all": ({}, {}, "all")}
LOCO_DB, LOCO_WORSE = 0.1, 0.30  # the leave-one-camera-out rule


def keep_pairs(f_name: str, work: Path, n: int | None):
    """n pairs (None: one per clean training photo, 181) whose target is F's own output: SYNTHETIC camera-preset lows
    of the clean training photos (made once, the first n by name), target F(low) as an 8-bit PNG
    (``<work>/keep_<F>``, ``<work>/keep_<F>_all``)."""
    import subprocess
    import sys

    import numpy as np
    from PIL import Image

    out = work / (f"keep_{f_name}" if n is not None else f"keep_{f_name}_all")
    if not (out / "high").is_dir():
        synth = work / "synth_camera"
        if not synth.is_dir():
            subprocess.run([sys.executable, "-m", "ptg_refine.cli", "synth", "--clean", str(DATA / "clean" / "train"),
                            "-o", str(synth),
                            "--variants", "1", "--seed", "0", "--max-side", "512", "--preset", "camera",
                            "--no-progress"], check=True)
        tmp = out.with_name(out.name + ".tmp")
        (tmp / "low").mkdir(parents=True, exist_ok=True)
        (tmp / "high").mkdir(exist_ok=True)
        f = restorer(f_name)
        for p in sorted(PairedFolder(synth).pairs, key=lambda p: p.name)[:n]:
            low = p.low_float()[None]
            with torch.no_grad():
                target = f(low).clamp(0, 1)[0].permute(1, 2, 0).numpy()
            Image.fromarray((low[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(
                tmp / "low" / f"{p.name}.png")
            Image.fromarray((target * 255).round().astype(np.uint8)).save(tmp / "high" / f"{p.name}.png")
        tmp.rename(out)
    return PairedFolder(out).pairs


def plan(order, fs) -> list[tuple[str, str, int]]:
    return [(f, a, s) for s in SEEDS for f in fs for a in order]


def _mean(values) -> float:
    return statistics.fmean(values)


def report(rows: dict) -> str:
    lines = ["# Do no harm: R trained where F is weak (IR-RGB), scored where F is strong (LOL)", "",
             "R trained on the 63 REAL IR-RGB train pairs only (never the LOL camera); fast R "
             f"(`{FAST}`), no prior, {ITERATIONS} iterations, batch {BATCH} crops of {CROP}², lr {LR:g}, 1 CPU thread. "
             f"`identity`: identity_weight {IDENTITY_WEIGHT}; `bounded`: correction_bound {BOUND}; `keep`: + 63 "
             "SYNTHETIC camera-preset pairs whose target is F's output (`keep-all`: + 181). LOL val: 49 REAL pairs of a camera R never "
             "saw (leave-one-camera-out: pass = F + R ≥ F − 0.1 dB and worse on ≤ 30 %); IR-RGB val: 22 REAL "
             "pairs of the training camera. PSNR in dB, mean over images, mean ± s.e. over seeds. Generated by "
             "`python -m benchmarks do-no-harm` (benchmarks/do_no_harm.py has the commands).", "",
             "| F | approach | seeds | LOL val F | LOL val F + R | Δ | worse (of 49) | LOCO pass | IR-RGB val F | "
             "IR-RGB val F + R | Δ |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in ("iat", "sci"):
        for a in APPROACHES:
            rs = [rows[k] for k in sorted(rows) if rows[k]["restorer"] == f and rows[k]["approach"] == a]
            if not rs:
                continue
            lol_f = _mean(rs[0]["lol"]["psnr_F"])
            lol = [_mean(r["lol"]["psnr_F+R"]) for r in rs]
            worse = _mean([r["lol"]["worse"] for r in rs])
            n = len(rs[0]["lol"]["psnr_F"])
            passes = sum(x >= lol_f - LOCO_DB and r["lol"]["worse"] <= LOCO_WORSE * n for x, r in zip(lol, rs))
            ir_f = _mean(rs[0]["psnr_F"])
            ir = [_mean(r["psnr_F+R"]) for r in rs]
            lines.append(f"| `{f}` | {a} | {len(rs)} | {lol_f:.2f} | {_ms(lol)} | "
                         f"{_ms([x - lol_f for x in lol], sign=True)} | {worse:.1f} | {passes}/{len(rs)} seeds | "
                         f"{ir_f:.2f} | {_ms(ir)} | "
                         f"{_ms([x - ir_f for x in ir], sign=True)} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(WORK), help="caches, claims, F-correct pairs and the trained refiners")
    ap.add_argument("--order", nargs="+", default=list(APPROACHES), choices=list(APPROACHES))
    ap.add_argument("--restorers", nargs="+", default=["iat"], choices=["iat", "sci"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    if not args.report:
        torch.set_num_threads(args.threads)
        work = Path(args.work)
        root = DATA / "real_pairs" / "ir_rgb"
        train, val = PairedFolder(root / "train").pairs, PairedFolder(root / "val").pairs
        _, lol_val = lol_split()
        for f, a, seed in plan(args.order, args.restorers):
            kwargs, extra, keep = APPROACHES[a]
            pairs = train + (keep_pairs(f, work, len(train) if keep == "same" else None) if keep else [])
            run = f"{f}/{a}/seed{seed}"
            cfg = TrainConfig(iterations=ITERATIONS, batch_size=BATCH, crop_size=CROP, lr=LR, seed=seed, log_every=50,
                              val_every=0, **extra)
            config = run_config(f, PRIOR, False, cfg, pairs, val, prior_proj_dim=128, **FAST, **kwargs)
            if is_done(load_done(RUNS), run, config) or not claim(work, run, config):
                continue
            save = work / "models" / run.replace("/", "__")
            row = train_and_eval(run, f, PRIOR, False, pairs, val, cfg, work / "cache", prior_proj_dim=128,
                                 save_dir=save, **FAST, **kwargs)
            res = evaluate_kept(save, f, lol_val, cache_dir=work / "cache")
            row.update(approach=a, lol={**{k: [r[k] for r in res["images"]] for k in ("psnr_F", "psnr_F+R")},
                                        "worse": res["worse"]})
            record_run(RUNS, row)
            print(f"{run}: LOL val {_mean(row['lol']['psnr_F']):.2f} -> {_mean(row['lol']['psnr_F+R']):.2f} "
                  f"(worse {res['worse']}); IR-RGB val {_mean(row['psnr_F']):.2f} -> {_mean(row['psnr_F+R']):.2f}",
                  flush=True)
    text = report(load_done(RUNS))
    (RESULTS / "do_no_harm.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
