"""Does a pre-trained prior help R, and in which form? Every prior path at the shipping budget, >= 4 seeds.

All data are SYNTHETIC low-light pairs (``ptg-refine synth`` on the clean photos under PTG_DATA_DIR, default
../shared/data): 181 training photos x 2 variants (max side 512), validation 18 McMaster pairs (seed 1).
F = SCI-medium (frozen; ``--restorer`` for another F). Every run: TrainConfig(iterations, batch 4, crop 128, AdamW lr 1e-3 cosine, seed s),
1 CPU thread; only the prior path changes between conditions. Same data, same seeds, same code for every row
(the commit of each run is recorded in the runs file).

Conditions (PTGRefiner / TrainConfig options):
  none          no prior (g = 0; the "none:1280" prior with the same projection, so R has the same shape)
  global        the paper's path: pooled Lite0 vector g -> PTG-SVE / PTG-CSA (= the old shipped recipe)
  global-rand   the same with a randomly initialised Lite0 (control: is it the pre-training that matters?)
  dense         Lite0 feature maps (stride 8/16/32) by SFT (prior_mode="dense"; SKF-style), g = 0
  dense-rand    the same with a randomly initialised Lite0
  featloss      no input prior; Lite0 as a training signal: + 0.05 x feature-space L1 (feature_loss=0.05)
  dense-featloss dense + featloss
  dense-onF     dense maps of F's output instead of the low image (prior_input="restored")
  global-reg    global + regularisers against per-image memorisation: g of the other synthetic variant of
                the photo, g dropped for 30 % of crops, coordinate positions jittered by up to 16 px
  dense-reg     dense + maps dropped for 50 % of crops + weight decay 0.1 on the prior path

Table: per-seed mean val PSNR of F+R, mean over seeds, paired Δ vs ``none`` of the same seed (mean ± s.e.
over seeds, and the number of seeds where it is positive), the diagnostics (prior zeroed / another image's
prior at test time, Δ vs the model's own prior), and wall time per run.

Command (runs are appended to results/prior_calibration_runs.jsonl and skipped when a row of the same name and
configuration hash is there; workers claim runs through files in <work>/claims, so start one worker per core, and
rerun to resume or re-render; ``python -m benchmarks calibration ...`` is the same):

    python -m benchmarks calibration --iterations 800 --seeds 0 1 2 3 &
    python -m benchmarks calibration --iterations 800 --seeds 0 1 2 3 &

``--report`` only renders results/prior_calibration.md from the runs file.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from benchmarks._paths import RESULTS
from benchmarks._runs import REPO, config_hash, is_done, load_done, record_run, run_config, train_and_eval
from ptg_refine.data import PairedFolder
from tools._data import prepare_data
from ptg_refine.evaluate import mean_se
from ptg_refine.training import TrainConfig

RUNS = RESULTS / "prior_calibration_runs.jsonl"
BATCH, CROP, LR = 4, 128, 1e-3
LITE0 = "efficientnet_lite0"
# name: (prior, pretrained, refiner kwargs, TrainConfig extras, seeds used by default)
CONDITIONS = {
    "none": ("none:1280", False, {}, {}),
    "global": (LITE0, True, {}, {}),
    "global-rand": (LITE0, False, {}, {}),
    "dense": (LITE0, True, {"prior_mode": "dense"}, {}),
    "dense-rand": (LITE0, False, {"prior_mode": "dense"}, {}),
    "featloss": ("none:1280", False, {}, {"feature_loss": 0.05}),
    "dense-featloss": (LITE0, True, {"prior_mode": "dense"}, {"feature_loss": 0.05}),
    "dense-onF": (LITE0, True, {"prior_mode": "dense", "prior_input": "restored"}, {}),
    "global-reg": (LITE0, True, {}, {"prior_other_variant": True, "prior_drop": 0.3, "position_jitter": 16}),
    "dense-reg": (LITE0, True, {"prior_mode": "dense"}, {"prior_drop": 0.5, "prior_weight_decay": 0.1}),
}
DESCRIPTIONS = {
    "none": "no prior (g = 0 from the `none:1280` prior, same projection, so R has the same shape)",
    "global": "the paper's path: pooled pretrained Lite0 vector g into PTG-SVE / PTG-CSA (the old shipped recipe)",
    "global-rand": "the same with a randomly initialised Lite0 (is it the pre-training that matters?)",
    "dense": "pretrained Lite0 feature maps (stride 8/16/32) by SFT before PTG-SVE and before R_d, g = 0 "
             "(prior_mode='dense', SKF-style)",
    "dense-rand": "the same with a randomly initialised Lite0",
    "featloss": "no input prior; pretrained Lite0 as a training signal: + 0.05 x feature-space L1 (feature_loss=0.05)",
    "dense-featloss": "dense + featloss",
    "dense-onF": "dense maps of F's output instead of the low image (prior_input='restored')",
    "global-reg": "global + regularisers against per-image memorisation: g of the other synthetic variant of the "
                  "photo, g zeroed for 30 % of crops, coordinate positions jittered by up to 16 px",
    "dense-reg": "dense + the maps zeroed for 50 % of crops + weight decay 0.1 on the prior path (dense-trained R "
                 "did better with its maps zeroed at test time than with them)",
}


def claim(work: Path, run: str, config: dict) -> bool:
    """Take run ``run`` with this configuration for this worker (False: another worker has it)."""
    path = work / "claims" / (run.replace("/", "__") + f"-{config_hash(config)}.claim")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL))
        return True
    except FileExistsError:
        return False


def _f(x, d=2):
    return f"{x:+.{d}f}" if x is not None else "—"


def report(rows: dict) -> str:
    by: dict = {}
    for r in rows.values():
        by.setdefault((r["iterations"], r.get("restorer", "sci"), r["condition"]), {})[r["seed"]] = r
    lines = ["# Prior calibration: which way into R does a pre-trained prior help? (SYNTHETIC data)", "",
             f"F frozen (SCI-medium unless a section says otherwise); R trained on 181 photos x 2 synthetic variants, {BATCH} crops of {CROP}² per "
             f"step, AdamW lr {LR:g} cosine, 1 CPU thread; validation: 18 synthetic McMaster pairs, mean PSNR in dB. "
             "Δ: the condition minus `none` of the same seed, then mean ± s.e. over seeds (paired); `> 0` counts the "
             "seeds where the condition beats `none`. Diagnostics at test time: the prior zeroed (g = 0, dense maps "
             "= 0) and another image's prior, each as Δ vs the model's own prior (mean over seeds): near 0 means "
             "R ignores the prior; a large drop for 'other image' with no gain over `none` means an image key.", "",
             "Generated by `python -m benchmarks calibration` (see its header for the exact command).", ""]
    for its, f_name in sorted({k[:2] for k in by}, key=lambda k: (k[1] != "sci", k)):
        base = by.get((its, f_name, "none"), {})
        f_psnr = mean_se(next(iter(base.values()))["psnr_F"])[0] if base else float("nan")
        lines += [f"## F = {f_name}, {its} iterations", "", f"F alone: {f_psnr:.2f} dB.", "",
                  "| condition | F+R per seed | F+R mean | Δ vs none (paired) | > 0 | prior zeroed | other image's prior "
                  "| wall s/run | code |", "|---|---|---|---|---|---|---|---|---|"]
        for cond in CONDITIONS:
            runs = by.get((its, f_name, cond))
            if not runs:
                continue
            seeds = sorted(runs)
            fr = {s: mean_se(runs[s]["psnr_F+R"])[0] for s in seeds}
            per = ", ".join(f"{s}: {fr[s]:.2f}" for s in seeds)
            deltas = [fr[s] - mean_se(base[s]["psnr_F+R"])[0] for s in seeds if s in base]
            if cond != "none" and deltas:
                m, se = mean_se(deltas)
                delta, pos = f"{m:+.2f} ± {se:.2f}", f"{sum(d > 0 for d in deltas)}/{len(deltas)}"
            else:
                delta, pos = "—", "—"
            diag = []
            for k in ("psnr_zero_g", "psnr_other_g"):
                vals = [mean_se(runs[s][k])[0] - fr[s] for s in seeds if k in runs[s]]
                diag.append(_f(sum(vals) / len(vals)) if vals else "—")
            wall = sum(runs[s]["wall_seconds"] for s in seeds) / len(seeds)
            codes = ",".join(sorted({runs[s].get("code", "?") for s in seeds}))
            lines.append(f"| {cond} | {per} | {sum(fr.values()) / len(fr):.2f} | {delta} | {pos} | {diag[0]} | "
                         f"{diag[1]} | {wall:.0f} | {codes} |")
        lines.append("")
    first = next(iter(rows.values()), None)
    if first:
        lines += [f"Versions: {first.get('versions', '?')}. "
                  "Wall time includes caching G's features (shared on disk between runs) and validation.", ""]
    lines += ["Conditions:", ""] + [f"- `{name}`: {DESCRIPTIONS[name]}" for name in CONDITIONS]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(REPO / "runs" / "bench"), help="synthetic data, cache and run claims")
    ap.add_argument("--iterations", type=int, nargs="+", default=[800])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    ap.add_argument("--restorer", default="sci", help="F (zoo name)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report", action="store_true", help="only render the table from the runs file")
    args = ap.parse_args()
    if not args.report:
        torch.set_num_threads(args.threads)
        work = Path(args.work)
        data = prepare_data(work)
        train, val = PairedFolder(data["train2"]).pairs, PairedFolder(data["val"]).pairs
        for its in args.iterations:
            for seed in args.seeds:  # seed-major: an interrupted study still has full seeds for every condition
                for cond in args.conditions:
                    run = f"{its}/{cond}/seed{seed}" if args.restorer == "sci" else \
                        f"{its}/{args.restorer}/{cond}/seed{seed}"
                    prior, pretrained, kwargs, extra = CONDITIONS[cond]
                    cfg = TrainConfig(iterations=its, batch_size=BATCH, crop_size=CROP, lr=LR, seed=seed,
                                      log_every=20, **extra)
                    config = run_config(args.restorer, prior, pretrained, cfg, train, val, prior_proj_dim=128,
                                        **kwargs)
                    if is_done(load_done(RUNS), run, config) or not claim(work, run, config):
                        continue
                    row = train_and_eval(run, args.restorer, prior, pretrained, train, val, cfg, work / "cache",
                                         prior_proj_dim=128, diagnostics=cond != "none", **kwargs)
                    row["condition"] = cond
                    record_run(RUNS, row)
                    print(f"{run}: F+R {mean_se(row['psnr_F+R'])[0]:.2f} dB ({row['wall_seconds']:.0f} s)", flush=True)
    text = report(load_done(RUNS))
    (RESULTS / "prior_calibration.md").write_text(text)
    print(text, file=sys.stdout)


if __name__ == "__main__":
    main()
