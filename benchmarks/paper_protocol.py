"""The paper's own protocol on REAL LOL pairs: R trained on F's training pairs with F frozen, for every F of the zoo.

PTG-RM (Xu et al., CVPR 2024) trains R on the training set of the restorer it wraps and reports F alone against
F + R on that set's test split. Here: the LOL-v1 training split (Wei et al., BMVC 2018; 485 REAL pairs of one camera,
laid out by ``<data root>/real_pairs/lol_v1_train/get_lol_v1_train.py`` into PTG_LOL_DIR, default
``data/lol_v1_train``) split as its SOURCES.md fixes it (``ptg_refine.data.split_every``, every 10th id in
numeric order): **LOL train** 436 pairs to train on, **LOL val** 49 pairs to select and report on. The LOL test
split is not used. IAT's LOL weights were trained on all 485 pairs, LOL val included: on LOL val R refines outputs
F has fitted (as in training), which every IAT figure here says.

Every run: F frozen (its outputs cached once), TrainConfig(``--iterations``, batch 8, crops 96², AdamW lr 1e-3
cosine, seed s), validation on LOL val every ``--val-every`` iterations (the curve), 1 CPU thread; each trained R is
also scored on the 22 IR-RGB val pairs (``real_pairs/ir_rgb/val``: another camera, never trained on here) at
exposure ``refiner`` (Eq. 1 as trained). R's decoder: ``--upsample`` (default ``bilinear``; ``shuffle``, the
PixelShuffle R_d of the refiners shipped before, for the comparison of the two). Conditions are those of ``benchmarks/fewshot.py``: ``none`` (no prior),
``global`` (pretrained EfficientNet-Lite0 vector g, the paper's path), ``dense`` (Lite0 feature maps by SFT) and
``featloss`` (Lite0 as a feature-space loss). Plan: ``none`` for every F of the zoo (seeds 0-2 for iat and sci,
seed 0 for the others), then the three prior conditions for iat and sci (seeds 0-2). The prior study ran at 750
iterations (half the budget, for lack of CPU time on 2 cores), paired against no prior at 750 iterations; the
global prior, the one that gained there, also at 1500 (iat, sci) and 3000 iterations (iat, with no prior at 3000).

Command (two workers, one per core; they share the plan through claims in ``--work`` and append to
results/paper_protocol_runs.jsonl; a run is skipped when a row of the same name and configuration hash exists):

    python -m benchmarks paper-protocol &
    python -m benchmarks paper-protocol --order sci zero_dce_pp sgz zero_dce iat &
    python -m benchmarks paper-protocol --upsample shuffle --order iat sci --no-prior-conditions   # R_d compared
    python -m benchmarks paper-protocol --order iat --no-prior-conditions --batch-size 2 --crop-size 192  # probes
    python -m benchmarks paper-protocol --iterations 750 --val-every 250 --order iat sci &   # the prior study
    python -m benchmarks paper-protocol --iterations 750 --val-every 250 --order sci iat &
    python -m benchmarks paper-protocol --order sci iat --conditions global &   # the global prior at 1500 it
    python -m benchmarks paper-protocol --order iat --no-prior-conditions --iterations 3000 --val-every 500 &
    python -m benchmarks paper-protocol --order iat --conditions global --iterations 3000 --val-every 500 &

``--report`` only renders results/paper_protocol.md; ``--rescore`` adds the artefact measures (``nyq_*``, ``black_*``,
``clip_*``) to rows written before evaluate_pairs had them, from the trained refiners kept in ``--work``. The trained refiners stay in ``--work``/models/<run>
(``python -m tools.ship iat-lol`` ships the one LOL val selects).
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from benchmarks._paths import DATA, RESULTS
from benchmarks._runs import (REPO, feature_cache, is_done, load_done, lol_pairs, record_run, restorer, run_config,
                              train_and_eval)
from benchmarks.fewshot import BATCH, CONDITIONS, CROP, LR
from benchmarks.prior_calibration import claim
from ptg_refine import PTGRefiner
from ptg_refine.data import PairedFolder
from ptg_refine.evaluate import evaluate_pairs, mean_se
from ptg_refine.training import TrainConfig

RUNS = RESULTS / "paper_protocol_runs.jsonl"
IRRGB_VAL = DATA / "real_pairs" / "ir_rgb" / "val"
WORK = REPO / "runs" / "paper_protocol"
ZOO = ("iat", "sci", "zero_dce", "zero_dce_pp", "sgz")
PRIOR_FS = ("iat", "sci")     # the F's the prior is asked for (a strong and a weak one)
SEEDS = {"iat": (0, 1, 2), "sci": (0, 1, 2)}  # others: seed 0
PRIOR_CONDITIONS = ("global", "dense", "featloss")
ITERATIONS, VAL_EVERY = 1500, 300
MAIN_UPSAMPLE = "bilinear"  # R_d of the main tables (the library's default)
FITTED = {"iat": "IAT's weights were trained on all 485 LOL pairs, LOL val included (26.0 dB there against its "
                 "paper's 23.38 on the LOL test split)"}


def lol_split():
    """(train, val) pairs of the fixed LOL-v1 split (436 / 49)."""
    return lol_pairs("paper-protocol")


def load_kept(folder: Path, f_name: str, exposure="refiner") -> PTGRefiner:
    """A refiner this benchmark trained and kept (``--work``/models/<run>) around a fresh F, at ``exposure``
    (``refiner``: Eq. 1 as trained)."""
    refiner = PTGRefiner.from_pretrained(folder, restorer=restorer(f_name))
    refiner.exposure = exposure
    return refiner


def plan(order, prior_conditions=PRIOR_CONDITIONS) -> list[tuple[str, str, int]]:
    """(F, condition, seed) in the order the runs are taken: no prior for every F and seed first, then the prior
    conditions asked (all of PRIOR_CONDITIONS by default; none: ``()``)."""
    out = []
    for seed in (0, 1, 2):
        out += [(f, "none", seed) for f in order if seed in SEEDS.get(f, (0,))]
    for seed in (0, 1, 2):
        for cond in prior_conditions:
            out += [(f, cond, seed) for f in order if f in PRIOR_FS]
    return out


def recipe_tag(batch: int, crop: int, lr: float) -> str:
    """'' for the protocol's recipe (BATCH crops of CROP², LR), else e.g. '-b2c192lr0.0003' (a probe)."""
    return "" if (batch, crop, lr) == (BATCH, CROP, LR) else f"-b{batch}c{crop}lr{lr:g}"


def recipe_of(row) -> str:
    t = row["config"]["train"]
    return recipe_tag(t["batch_size"], t["crop_size"], t["lr"])


def run_name(f: str, cond: str, seed: int, iterations: int, upsample: str, tag: str = "") -> str:
    return f"{f}/{iterations}/{cond}/{upsample}{tag}/seed{seed}"


def upsample_of(row) -> str:
    """R_d of a run (rows written before the setting existed trained the PixelShuffle decoder)."""
    return row["config"]["refiner"].get("upsample", "shuffle")


def _mean(row, key="psnr_F+R") -> float:
    return statistics.fmean(row[key])


def _better(row) -> int:
    return sum(a > b for a, b in zip(row["psnr_F+R"], row["psnr_F"]))


def _ms(values, d=2, sign=False) -> str:
    m, se = mean_se(values)
    text = f"{m:+.{d}f}" if sign else f"{m:.{d}f}"
    return f"{text} ± {se:.{d}f}" if len(values) > 1 else text


def _artefacts(rs) -> str:
    """Nyquist share F + R / F (mean over seeds of the per-image ratio's mean and max), '—' without the figures."""
    if not all("nyq_F+R" in r for r in rs):
        return "—"
    ratios = [[a / max(b, 1e-12) for a, b in zip(r["nyq_F+R"], r["nyq_F"])] for r in rs]
    return (f"{statistics.fmean(statistics.fmean(x) for x in ratios):.2f}× "
            f"(max {statistics.fmean(max(x) for x in ratios):.1f}×)")


def _black(rs) -> str:
    if not all("black_F+R" in r for r in rs):
        return "—"
    return (f"{_mean(rs[0], 'black_F'):.3f} / {statistics.fmean(_mean(r, 'black_F+R') for r in rs):.3f} / "
            f"{_mean(rs[0], 'black_target'):.3f}")


def report(rows: dict) -> str:
    by: dict = {}
    probes: dict = {}
    for r in rows.values():
        if recipe_of(r):
            probes.setdefault((r["restorer"], r["iterations"], recipe_of(r), upsample_of(r)), {})[r["seed"]] = r
            continue
        by.setdefault((r["restorer"], r["iterations"], r["condition"], upsample_of(r)), {})[r["seed"]] = r
    n_val = len(next(iter(rows.values()))["names"]) if rows else 0
    lines = ["# The paper's protocol on REAL LOL pairs: R trained on F's training pairs, F frozen", "",
             f"LOL-v1 training split (485 REAL pairs, one camera) in its fixed split: R trained on **LOL train** "
             f"(436 pairs), every figure on **LOL val** ({n_val} pairs, every 10th id; the LOL test split is not "
             f"used). {BATCH} crops of {CROP}² per step, AdamW lr {LR:g} cosine, 1 CPU thread, F frozen and its "
             "outputs cached. PSNR in dB; F + R: mean over seeds of the mean over images, ± s.e. over seeds; "
             "Δ: F + R − F; better: images where F + R > F (mean over seeds); train min/run: wall time of the training "
             "steps on 1 thread of a shared 2-core machine running 2 to 5 such processes at once; IR-RGB val: the same R on the 22 "
             "val pairs of another camera (never trained on here), exposure `refiner`. R_d upsamples bilinearly "
             f"(`upsample={MAIN_UPSAMPLE!r}`) unless a table says otherwise.", "",
             f"**IAT caveat:** {FITTED['iat']}; so on LOL val R refines outputs F has fitted, as it does in "
             "training (the paper's protocol has the same property). The LOL test split outside this repository "
             "is the fair check of IAT.", "",
             "Generated by `python -m benchmarks paper-protocol` (benchmarks/paper_protocol.py has the exact "
             "commands).", "", "## F alone → F + R (no prior), LOL val", "",
             "| F | seeds | F alone | F + R | Δ vs F | better (of "
             f"{n_val}) | seeds that gain | GT-mean PSNR F → F + R | IR-RGB val F → F + R | budget | train min/run |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in ZOO:
        for its in sorted({k[1] for k in by if k[0] == f}):
            runs = by.get((f, its, "none", MAIN_UPSAMPLE))
            if not runs:
                continue
            rs = [runs[s] for s in sorted(runs)]
            fa = _mean(rs[0], "psnr_F")
            fr = [_mean(r) for r in rs]
            gain = sum(x > fa for x in fr)
            better = statistics.fmean(_better(r) for r in rs)
            gt_f, gt_fr = _mean(rs[0], "gtmean_psnr_F"), statistics.fmean(_mean(r, "gtmean_psnr_F+R") for r in rs)
            ir = [r for r in rs if "irrgb" in r]
            irtxt = (f"{ir[0]['irrgb']['psnr_F']:.2f} → {_ms([r['irrgb']['psnr_F+R'] for r in ir])}" if ir else "—")
            mins = statistics.fmean(r["train_seconds"] for r in rs) / 60
            name = f"`{f}`" + (" (fitted on LOL val)" if f in FITTED else "")
            lines.append(f"| {name} | {len(rs)} | {fa:.2f} | {_ms(fr)} | {_ms([x - fa for x in fr], sign=True)} | "
                         f"{better:.1f} | {gain}/{len(rs)} | {gt_f:.2f} → {gt_fr:.2f} | {irtxt} | {its} it | "
                         f"{mins:.1f} |")
    lines += ["", "## Validation PSNR of F + R against iterations (no prior, LOL val)", ""]
    for budget in sorted({k[1] for k in by}):  # one table per budget: the cosine schedule ends at each budget
        curves = [(k, v) for k, v in sorted(by.items())
                  if k[1] == budget and k[2] == "none" and all(r.get("curve") for r in v.values())]
        if not curves:
            continue
        steps = [h["step"] for h in next(iter(curves[0][1].values()))["curve"]]
        lines += [f"Budget {budget} iterations (the learning rate decays to 0 over {budget}):", ""]
        lines += ["| F | R_d | seeds | F alone | " + " | ".join(f"it {s}" for s in steps) + " |",
                  "|---|---|---|---|" + "---|" * len(steps)]
        for (f, its, _, up), runs in curves:
            cells = [_ms([r["curve"][i]["val_psnr_FR"] for r in runs.values() if len(r["curve"]) > i])
                     for i in range(len(steps))]
            lines.append(f"| `{f}` | {up} | {len(runs)} | {_mean(next(iter(runs.values())), 'psnr_F'):.2f} | "
                         + " | ".join(cells) + " |")
        lines.append("")
    lines.pop()
    lines += ["", "## R_d: bilinear upsampling against PixelShuffle (no prior, LOL val)", "",
              "Same recipe and seeds; Δ paired by seed. Nyquist share: the share of the luminance's horizontal "
              "spectrum (upper half) at period 2 px (`ptg_refine.artefacts.nyquist_share`), F + R over F per "
              "image, mean (and max) over the 49 images. Black level: 1st-percentile luminance of F / F + R / the "
              "target.", "",
              "| F | R_d | seeds | F + R | Δ bilinear − shuffle | Nyquist share F + R / F | black level F / F + R / "
              "target |", "|---|---|---|---|---|---|---|"]
    for f in PRIOR_FS:
        for its in (ITERATIONS,):
            base = by.get((f, its, "none", "shuffle"), {})
            for up in ("shuffle", "bilinear"):
                runs = by.get((f, its, "none", up))
                if not runs:
                    continue
                seeds = sorted(runs)
                rs = [runs[s] for s in seeds]
                deltas = [_mean(runs[s]) - _mean(base[s]) for s in seeds if s in base]
                delta = _ms(deltas, sign=True) if up == "bilinear" and deltas else "—"
                lines.append(f"| `{f}` | {up} | {len(seeds)} | {_ms([_mean(r) for r in rs])} | {delta} | "
                             f"{_artefacts(rs)} | {_black(rs)} |")
    if probes:
        lines += ["", "## Recipe probes (no prior, LOL val)", "",
                  "Other batch / crop / learning-rate settings at the same iterations, against the protocol's recipe "
                  f"({BATCH} crops of {CROP}², lr {LR:g}) of the same F, R_d and seed (paired Δ).", "",
                  "| F | recipe | R_d | seeds | F + R | Δ vs the protocol's recipe | better than F | train min/run |",
                  "|---|---|---|---|---|---|---|---|"]
        for (f, its, tag, up), runs in sorted(probes.items()):
            base = by.get((f, its, "none", up), {})
            seeds = sorted(runs)
            deltas = [_mean(runs[s]) - _mean(base[s]) for s in seeds if s in base]
            lines.append(f"| `{f}` | {tag.lstrip('-')} | {up} | {len(seeds)} | {_ms([_mean(runs[s]) for s in seeds])} | "
                         f"{_ms(deltas, sign=True) if deltas else '—'} | "
                         f"{statistics.fmean(_better(runs[s]) for s in seeds):.1f} | "
                         f"{statistics.fmean(runs[s]['train_seconds'] for s in seeds) / 60:.1f} |")
    lines += ["", "## The pre-trained prior in the paper's setting (LOL val)", "",
              "Each condition against `none` of the same F and seed (paired Δ, mean ± s.e. over seeds; > 0: seeds "
              "where the condition beats no prior). EfficientNet-Lite0 (ImageNet, pretrained) stands in for CLIP, "
              "whose weights are not reachable here.", "",
              "| F | condition | budget | seeds | F + R | Δ vs none (paired) | > 0 | better than F (of "
              f"{n_val}) | IR-RGB val F + R |", "|---|---|---|---|---|---|---|---|---|"]
    for f in PRIOR_FS:
        for its in sorted({k[1] for k in by if k[0] == f and k[2] != "none"}):  # budgets the prior was asked at
            base = by.get((f, its, "none", MAIN_UPSAMPLE), {})
            for cond in ("none", *PRIOR_CONDITIONS):
                runs = by.get((f, its, cond, MAIN_UPSAMPLE))
                if not runs:
                    continue
                seeds = sorted(runs)
                fr = [_mean(runs[s]) for s in seeds]
                deltas = [_mean(runs[s]) - _mean(base[s]) for s in seeds if s in base]
                if cond != "none" and deltas:
                    delta, pos = _ms(deltas, sign=True), f"{sum(d > 0 for d in deltas)}/{len(deltas)}"
                else:
                    delta, pos = "—", "—"
                ir = [runs[s]["irrgb"]["psnr_F+R"] for s in seeds if "irrgb" in runs[s]]
                lines.append(f"| `{f}` | {cond} | {its} it | {len(seeds)} | {_ms(fr)} | {delta} | {pos} | "
                             f"{statistics.fmean(_better(runs[s]) for s in seeds):.1f} | "
                             f"{_ms(ir) if ir else '—'} |")
    if rows:
        first = next(iter(rows.values()))
        codes = ", ".join(sorted({r.get("code", "?") for r in rows.values()}))
        lines += ["", f"Versions: {first.get('versions', '?')}; code {codes}."]
    return "\n".join(lines) + "\n"


def evaluate_kept(folder: Path, f_name: str, pairs, exposure="refiner", cache_dir=None) -> dict:
    """:func:`evaluate_pairs` of a kept refiner (:func:`load_kept`) on ``pairs``; F's outputs from the on-disk cache
    in ``cache_dir`` when given."""
    refiner = load_kept(folder, f_name, exposure)
    cache = feature_cache(refiner, f_name, cache_dir) if cache_dir is not None else None
    return evaluate_pairs(pairs, refiner=refiner, cache=cache, progress=False)


def score_other_camera(refiner_dir: Path, f_name: str, pairs) -> dict:
    """The trained R (exposure ``refiner``) on another camera's val pairs: mean PSNR of F and F + R, worse count."""
    res = evaluate_kept(refiner_dir, f_name, pairs)
    return {"psnr_F": res["mean"]["psnr_F"], "psnr_F+R": res["mean"]["psnr_F+R"], "worse": res["worse"],
            "n": res["n"]}


def rescore(work: Path) -> int:
    """Re-evaluate, on LOL val, the kept refiners of rows without the artefact measures; rewrite those rows."""
    import json

    _, val = lol_split()
    lines = RUNS.read_text().splitlines()
    changed = 0
    for i, line in enumerate(lines):
        row = json.loads(line)
        if not row or "nyq_F+R" in row:
            continue
        folder = work / "models" / row["run"].replace("/", "__")
        res = evaluate_kept(folder, row["restorer"], val, cache_dir=work / "cache")
        if [r["name"] for r in res["images"]] != row["names"] or \
                max(abs(a["psnr_F+R"] - b) for a, b in zip(res["images"], row["psnr_F+R"])) > 1e-3:
            raise SystemExit(f"rescore: {folder} does not reproduce the recorded scores of {row['run']}")
        for key in res["images"][0]:
            if key.startswith(("nyq_", "black_", "clip_")):
                row[key] = [r[key] for r in res["images"]]
        lines[i] = json.dumps(row)
        changed += 1
    RUNS.write_text("\n".join(lines) + "\n")
    return changed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(WORK), help="cache, claims and the trained refiners (models/)")
    ap.add_argument("--order", nargs="+", default=list(ZOO), choices=ZOO, help="the F's, in the order taken")
    ap.add_argument("--iterations", type=int, default=ITERATIONS)
    ap.add_argument("--val-every", type=int, default=VAL_EVERY)
    ap.add_argument("--upsample", default="bilinear", choices=("bilinear", "shuffle"), help="R_d's upsampling")
    ap.add_argument("--no-prior-conditions", action="store_true", help="only the no-prior runs")
    ap.add_argument("--conditions", nargs="+", default=list(PRIOR_CONDITIONS), choices=PRIOR_CONDITIONS,
                    help="the prior conditions to train (after the no-prior runs)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="only these seeds")
    ap.add_argument("--batch-size", type=int, default=BATCH, help="a recipe probe (the protocol: %(default)s)")
    ap.add_argument("--crop-size", type=int, default=CROP, help="a recipe probe (the protocol: %(default)s)")
    ap.add_argument("--lr", type=float, default=LR, help="a recipe probe (the protocol: %(default)s)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--rescore", action="store_true", help="add the artefact measures to older rows, then render")
    args = ap.parse_args()
    if args.rescore:
        torch.set_num_threads(args.threads)
        print(f"rescored {rescore(Path(args.work))} rows")
    elif not args.report:
        torch.set_num_threads(args.threads)
        work = Path(args.work)
        train, val = lol_split()
        other = PairedFolder(IRRGB_VAL).pairs
        for f, cond, seed in plan(args.order, () if args.no_prior_conditions else args.conditions):
            if args.seeds is not None and seed not in args.seeds:
                continue
            tag = recipe_tag(args.batch_size, args.crop_size, args.lr)
            run = run_name(f, cond, seed, args.iterations, args.upsample, tag)
            prior, pretrained, kwargs, extra = CONDITIONS[cond]
            kwargs = {**kwargs, "upsample": args.upsample}
            # the curve (validation every --val-every iterations) for the no-prior runs; the prior conditions are
            # compared at the end of training only (validation does not change what is trained)
            cfg = TrainConfig(iterations=args.iterations, batch_size=args.batch_size, crop_size=args.crop_size, lr=args.lr,
                              seed=seed,
                              log_every=50, val_every=args.val_every if cond == "none" else 0, **extra)
            config = run_config(f, prior, pretrained, cfg, train, val, prior_proj_dim=128, **kwargs)
            if is_done(load_done(RUNS), run, config) or not claim(work, run, config):
                continue
            save = work / "models" / run.replace("/", "__")
            row = train_and_eval(run, f, prior, pretrained, train, val, cfg, work / "cache", prior_proj_dim=128,
                                 val_during=cond == "none", save_dir=save, **kwargs)
            row.update(condition=cond, irrgb=score_other_camera(save, f, other))
            record_run(RUNS, row)
            print(f"{run}: F {_mean(row, 'psnr_F'):.2f} -> F+R {_mean(row):.2f} dB on LOL val; IR-RGB val "
                  f"{row['irrgb']['psnr_F']:.2f} -> {row['irrgb']['psnr_F+R']:.2f} ({row['wall_seconds']:.0f} s)",
                  flush=True)
    text = report(load_done(RUNS))
    (RESULTS / "paper_protocol.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
