"""Train, evaluate and ship one of the refiners bundled in the package (one committed command per refiner).

    python -m tools.ship sci-none            # see RECIPES; --no-ship: train and report only
    python -m tools.ship sci-irrgb --study fast-r --arch light   # as shipped: the best light run of fast-r on IR-RGB
    python -m tools.ship iat-lol      # LOL_RECIPES: the paper's protocol (after python -m benchmarks paper-protocol)
    python -m tools.ship iat-lol --study fast-r --arch light  # the best kept run of a study (the light R on LOL)

REAL_RECIPES (the refiners for real photos): ``*-general`` start from the older synthetic refiner of F and are
trained on SYNTHETIC pairs of the calibrated ``camera`` preset (no IR-RGB image: they are judged cross-camera);
``*-irrgb`` start from ``*-general`` and are adapted to the 63 REAL IR-RGB train pairs. Both are selected on the 22
REAL IR-RGB val pairs. Run the general ones first (the adapted ones start from them). Every start point is a
shipped refiner or a committed recipe of RECIPES (:func:`start_point`: ``iat-general`` starts from the recipe
``iat_lol_v1-none``, withdrawn from the package; it is trained first, into runs/bench/ship/iat_lol_v1-none, when
that folder has no final/), so a checkout of this repository and the data root are all a release needs.

Data (tools/_data.py): SYNTHETIC pairs made by ``ptg-refine synth`` from the clean photos under PTG_DATA_DIR
(default ../shared/data): 181 training photos x 2 variants (seed 0, long side <= 512), validation 18 McMaster pairs
(seed 1) — the same folders as ``python -m benchmarks calibration`` (``--work``, default runs/bench). The run is
resumable (checkpoints in <work>/ship/<name>); at the end it copies ``final/`` to
src/ptg_refine/pretrained/<name>, checks that it loads from there, writes its model card (tools/model_card.py;
real-pair figures once results/real_pairs.json exists), its entry in src/ptg_refine/pretrained/index.json
(description, training data, validation means, licences; F, the prior and the exposure stay in its config.json)
and results/ship_<name>.md with validation PSNR against iterations, so a
reader sees whether more compute would still pay. ``--index-only`` rewrites the index entry of an already shipped
refiner from results/ship_<name>.json without training. The recipe (prior path, iterations, lr) is the best
configuration measured (no prior: results/paper_protocol.md has the prior on real pairs); it lives in RECIPES below,
as data.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch

from benchmarks._paths import RESULTS
from benchmarks._runs import DATA, REPO, code_version, restorer, versions
from benchmarks.fast_r import ARCHS as FAST_R_ARCHS
from benchmarks.paper_protocol import PRIOR_CONDITIONS
from tools._data import prepare_camera_data, prepare_data
from ptg_refine import PTGRefiner, list_pretrained
from ptg_refine._pretrained import INDEX_FILE, get_pretrained_config
from ptg_refine.data import PairedFolder
from ptg_refine.evaluate import evaluate_pairs
from ptg_refine.exposure import mean_luminance
from ptg_refine.priors import get_prior_config
from ptg_refine.restorers import RESTORERS, get_restorer_config
from ptg_refine.training import Trainer, TrainConfig

DESCRIPTION = "Train, evaluate and ship one of the refiners bundled in the package (one committed command per refiner)."
PRETRAINED = REPO / "src" / "ptg_refine" / "pretrained"
BENCH_WORK = REPO / "runs" / "bench"  # --work of the synthetic and IR-RGB recipes
# name: (F, refiner kwargs, TrainConfig kwargs)
RECIPES = {
    # no prior (g = 0): the ablation every prior configuration has to beat at the shipping budget
    # R at the paper's sizes, no prior layers (prior none), R_d bilinear (the 2-pixel texture of the sci-none of ff59c23
    # came from R_d "shuffle"); synthetic val at 5000 iterations: 24.72 dB, against 24.00 with the light R of
    # benchmarks/fast_r.py (kernel_hidden 32, 2 blocks; results/ship_sci-none.md at commit 33e6ef2) and 24.09 for the old one
    "sci-none": ("sci", {"prior": "none:1280", "prior_proj_dim": 128}, {}),
    # the start point of the withdrawn iat-general (results/ship_iat_lol_v1-none.md); IAT's shipped refiner is iat-lol
    "iat_lol_v1-none": ("iat", {"prior": "none:1280", "prior_proj_dim": 128}, {}),
}
# The refiners for real photos: name -> recipe. ``data``: ``camera`` (SYNTHETIC pairs of the
# calibrated `camera` preset, no IR-RGB image: general-purpose) or ``ir_rgb`` (the 63 REAL IR-RGB train pairs: adapted
# to that camera); ``init``: the shipped refiner R starts from; ``exposure``: the inference setting shipped in
# config.json (``targets``: the mean luminance of the training targets, rounded to 0.01: a brightness learnt from the
# training data, not from the validation camera); validation (model selection) on the 22 REAL IR-RGB val pairs.
REAL_RECIPES = {
    # WITHDRAWN from the package with iat-irrgb: on the LOL val pairs, a camera neither saw, IAT alone scores 26.01 dB,
    # iat-general 22.91 (worse on 41 of 49) and iat-irrgb 16.49 (results/real_pairs.md): both lose to F alone on a
    # camera they were not trained on. The recipes stay as the record of how they were made.
    # starts from iat_lol_v1-none, withdrawn from the package (it failed the cross-camera test): a committed recipe of
    # RECIPES, trained first (into runs/bench/ship/iat_lol_v1-none, see start_point) when its folder is not there
    "iat-general": {"restorer": "iat", "init": "iat_lol_v1-none", "data": "camera", "exposure": "restorer",
                    "train": {"iterations": 1000, "batch_size": 8, "crop_size": 96, "lr": 5e-4}},
    # adapting the retrained sci-none by this recipe gave 20.75 dB on IR-RGB val (the old sci-none: 21.68); the shipped
    # sci-irrgb is the best run of the fast-r study instead (--study fast-r --arch light: 21.68, from scratch)
    "sci-irrgb": {"restorer": "sci", "init": "sci-none", "data": "ir_rgb", "exposure": "refiner",
                  "train": {"iterations": 400, "batch_size": 8, "crop_size": 96, "lr": 1e-3}},
    "iat-irrgb": {"restorer": "iat", "init": "iat-general", "data": "ir_rgb", "exposure": "refiner",
                  "train": {"iterations": 400, "batch_size": 8, "crop_size": 96, "lr": 1e-3}},
}
# The refiners of the paper's own protocol: R trained on F's own training pairs (the REAL LOL-v1 training split,
# LOL train: 436 pairs of the LOL camera) with F frozen. The candidates are the runs of benchmarks/paper_protocol.py
# (python -m benchmarks paper-protocol: 3 seeds of each condition, the trained R kept in its --work folder); the one
# shipped is the candidate with the best mean PSNR on LOL val (49 pairs), exposure ``refiner`` (in-domain: R's own).
LOL_RECIPES = {"iat-lol": "iat", "sci-lol": "sci"}
# ``--study``: ship from the kept runs of a training study instead (:func:`study_candidates`): the LOL recipes and
# these, whose candidates are trained by benchmarks/fast_r.py (``*-irrgb``) or benchmarks/do_no_harm.py (``iat-general``)
STUDY_RECIPES = {**LOL_RECIPES, "iat-irrgb": "iat", "sci-irrgb": "sci", "iat-general": "iat"}
FAST_KEYS = ("resolution", "kernel_hidden", "num_blocks", "correction_bound")  # R's settings a ship record names
TRAINED_ON = {"synthetic": "SYNTHETIC pairs (default preset) of 181 clean photos",
              "camera": "SYNTHETIC pairs (camera preset, calibrated to real low-light statistics) of 181 clean photos",
              "ir_rgb": "REAL IR-RGB train pairs (63, one camera)",
              "lol": "REAL LOL train pairs (436 of the LOL-v1 training split, the LOL camera)"}
LOL_VAL = "REAL pairs: the 49 LOL val pairs (every 10th id of the LOL-v1 training split; the LOL camera)"
REAL_VAL = "REAL pairs: the 22 IR-RGB val pairs of real_pairs/ir_rgb/val (one camera)"
BASE = {"iterations": 5000, "lr": 1e-3, "batch_size": 4, "crop_size": 128, "seed": 0, "log_every": 50}
VAL_DATA = "SYNTHETIC pairs: 18 McMaster photos of clean/val of the data root (ptg-refine synth --variants 1 --seed 1)"
INDEX_ABOUT = ("The refiners shipped in this folder, one entry per subfolder (ptg_refine.list_pretrained() reads "
               "this file); written by tools/ship.py. validation: means over images of "
               "benchmarks/results/ship_<name>.json. default: the refiner of ptg-refine enhance.")
R_LICENCE = "Apache-2.0 (as the ptg-refine package); trained on research-only photo sets (see the model card)"


def history_table(history) -> list[str]:
    rows = [h for h in history if "val_psnr_FR" in h]
    return ["| iteration | val PSNR F+R (dB) | val SSIM F+R |", "|---|---|---|"] + \
        [f"| {h['step']} | {h['val_psnr_FR']:.2f} | {h['val_ssim_FR']:.4f} |" for h in rows]


def index_entry(run: dict) -> dict:
    """The pretrained/index.json entry of a shipped refiner, from its results/ship_<name>.json ``run`` (what its
    config.json holds, F, the prior and the exposure, is not repeated there)."""
    f_name, prior = run["restorer"], run["refiner"]["prior"]
    f_cfg = get_restorer_config(f_name)
    mode = run["refiner"].get("prior_mode", "global")
    what = "no prior (g = 0)" if prior.startswith("none") else f"the {prior} prior ({mode})"
    val = {k: round(statistics.mean(v), 4) for k, v in run["val"].items()
           if k.startswith(("psnr_F", "ssim_F", "gtmean_psnr_F"))}
    trained_on = run.get("trained_on", [TRAINED_ON["synthetic"]])
    return {"description": f"R for F = {f_name} ({RESTORERS.resolve(f_name)}) with {what}, trained on "
                           + " then ".join(trained_on),
            "iterations": run["train"]["iterations"], "trained_on": trained_on,
            "validation": {"data": run.get("val_data", VAL_DATA), "n": len(run["val"]["name"]), **val},
            "licence": {"R": R_LICENCE, "F": f"{f_cfg.licence} (weights of {f_cfg.source})",
                        "prior": get_prior_config(prior).licence}}


def write_index_entry(name: str, run: dict, make_default: bool = False) -> None:
    """Add or replace ``name``'s entry in pretrained/index.json (its default flag is kept; new entries: False;
    ``make_default``: ``name`` becomes the default refiner, the one entry so marked)."""
    index = json.loads(INDEX_FILE.read_text()) if INDEX_FILE.is_file() else {"about": INDEX_ABOUT, "refiners": {}}
    old = index["refiners"].get(name, {})
    index["refiners"][name] = {**index_entry(run), "default": old.get("default", False)}
    if make_default:
        for other, entry in index["refiners"].items():
            entry["default"] = other == name
    index["refiners"] = dict(sorted(index["refiners"].items()))
    INDEX_FILE.write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n")


def start_point(name: str, threads: int):
    """(refiner R starts from, what it was trained on): a shipped refiner, or one trained by its committed recipe in
    RECIPES (into runs/bench/ship/<name>, trained there first when that run has no final/ yet)."""
    if name in list_pretrained():
        return PTGRefiner.from_pretrained(name), list(get_pretrained_config(name).trained_on or
                                                      [TRAINED_ON["synthetic"]])
    if name not in RECIPES:
        raise SystemExit(f"ship: start point {name!r} is neither a shipped refiner nor a recipe of RECIPES")
    final = BENCH_WORK / "ship" / name / "final"
    if not (final / "model.safetensors").is_file():
        print(f"start point {name}: training it by its recipe first (python -m tools.ship {name} --no-ship)",
              flush=True)
        train_recipe(name, BENCH_WORK, threads)
    return PTGRefiner.from_pretrained(final), [TRAINED_ON["synthetic"]]


def ship_real(args) -> None:
    """Train (from the recipe's ``init``), select on REAL IR-RGB val, ship a refiner of REAL_RECIPES."""
    recipe = REAL_RECIPES[args.name]
    f_name, work = recipe["restorer"], Path(args.work or BENCH_WORK)
    train_kw = {"seed": 0, "log_every": 50, **recipe["train"]}
    if args.iterations is not None:
        train_kw["iterations"] = args.iterations
    if recipe["data"] == "camera":
        train_dir = prepare_camera_data(work)
    else:
        train_dir = DATA / "real_pairs" / "ir_rgb" / "train"
    train, val = PairedFolder(train_dir).pairs, PairedFolder(DATA / "real_pairs" / "ir_rgb" / "val").pairs
    refiner, init_trained_on = start_point(recipe["init"], args.threads)
    torch.manual_seed(train_kw["seed"])
    exposure = recipe["exposure"]
    if exposure == "targets":
        exposure = round(statistics.mean(float(mean_luminance(p.high_float()[None])[0]) for p in train), 2)
    refiner.exposure = exposure
    cfg = TrainConfig(**train_kw, val_every=min(args.val_every, train_kw["iterations"] // 4), ckpt_every=250)
    out = work / "ship" / args.name
    trainer = Trainer(refiner, train, cfg, val_pairs=val, out_dir=out, cache_dir=work / "cache",
                      restorer_name=f_name, progress=False)
    trainer.resume()
    t0 = time.perf_counter()
    summary = trainer.fit()
    hist = json.loads((out / "history.json").read_text())
    trained_on = [*init_trained_on, TRAINED_ON[recipe["data"]]]
    lines = [f"# `{args.name}`: REAL IR-RGB val PSNR against iterations", "",
             f"F = `{f_name}`; R initialised from `{recipe['init']}`, trained on {TRAINED_ON[recipe['data']]}; "
             f"TrainConfig {train_kw}; exposure `{exposure}`; {args.threads} CPU threads, "
             f"{summary['train_seconds'] / 60:.1f} min of training steps (wall incl. caching F and validation "
             f"{(time.perf_counter() - t0) / 60:.1f} min). Code {code_version()}; {versions()}.", "",
             f"Command: `python -m tools.ship {' '.join(sys.argv[1:])}`", "",
             f"Validation during training scores the refiner at its exposure setting (`{exposure}`); both settings "
             "are in results/real_pairs.md.", ""] + history_table(hist["history"])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"ship_{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    ev = evaluate_pairs(val, refiner=trainer.refiner, cache=trainer.cache, progress=False)
    run = {"name": args.name, "restorer": f_name, "refiner": {k: refiner.config[k] for k in ("prior", "prior_mode")},
           "init": recipe["init"], "train": train_kw, "threads": args.threads, "trained_on": trained_on,
           "exposure": exposure, "val_data": REAL_VAL, "train_seconds": summary["train_seconds"],
           "params_R": sum(p.numel() for p in refiner.parameters()), "code": code_version(), "versions": versions(),
           "val": {k: [r[k] for r in ev["images"]] for k in ev["images"][0]}}
    (RESULTS / f"ship_{args.name}.json").write_text(json.dumps(run, indent=1))
    if args.no_ship:
        return
    install(args.name, out, run)


def study_candidates(args, f_name: str):
    """(rows, models folder, own camera 'lol' / 'irrgb', study command) of the kept runs ``args.name`` may ship
    from: ``--study paper-protocol`` (the LOL recipes' default: benchmarks/paper_protocol.py's runs of prior
    condition ``--condition``, default none, at budget ``--iterations``, default the protocol's; R_d bilinear),
    ``fast-r`` (benchmarks/fast_r.py's runs of R ``--arch`` on the recipe's camera: LOL for ``*-lol``, IR-RGB for
    ``*-irrgb``) or ``do-no-harm`` (benchmarks/do_no_harm.py's runs of ``--approach``, trained on IR-RGB)."""
    from benchmarks._runs import load_done

    if args.study == "paper-protocol":
        from benchmarks import paper_protocol as pp

        its = args.iterations or pp.ITERATIONS
        rows = [r for r in load_done(pp.RUNS).values() if r["restorer"] == f_name and r["iterations"] == its
                and pp.upsample_of(r) == pp.MAIN_UPSAMPLE and r.get("condition") == args.condition
                and not pp.recipe_of(r)]
        return rows, Path(args.work or pp.WORK), "lol", "python -m benchmarks paper-protocol"
    if args.study == "fast-r":
        from benchmarks import fast_r as fr

        data = "lol" if args.name.endswith("-lol") else "irrgb"
        rows = [r for r in load_done(fr.RUNS).values() if r["run"].startswith(f"{data}/{f_name}/{args.arch}/")]
        return rows, Path(args.work or fr.WORK), data, "python -m benchmarks fast-r"
    from benchmarks import do_no_harm as dnh

    rows = [r for r in load_done(dnh.RUNS).values() if r["restorer"] == f_name and r.get("approach") == args.approach]
    return rows, Path(args.work or dnh.WORK), "irrgb", "python -m benchmarks do-no-harm"


def ship_kept(args, f_name: str) -> None:
    """Ship the kept run (:func:`study_candidates`) of F with the best mean PSNR on the val pairs of its own camera;
    exposure ``refiner`` (Eq. 1 as trained). The same R is scored on the other camera's val pairs (recorded per
    image; tests re-score the installed copy)."""
    from benchmarks import paper_protocol as pp

    rows, work, own, study = study_candidates(args, f_name)
    if not rows:
        raise SystemExit(f"ship {args.name}: no {f_name} candidates of `{study}`; run it first (it trains them)")
    mean = lambda r: statistics.fmean(r["psnr_F+R"])  # noqa: E731
    best = max(rows, key=mean)
    folder = work / "models" / best["run"].replace("/", "__")
    if not (folder / "model.safetensors").is_file():
        raise SystemExit(f"ship {args.name}: the selected run {best['run']} has no trained refiner in {folder}; "
                         f"rerun `{study}` there (--work)")
    per_image = ("psnr_", "ssim_", "gtmean_psnr_", "lum_", "sat_", "nyq_", "black_", "clip_")
    trained_on = [TRAINED_ON["lol" if own == "lol" else "ir_rgb"]]
    own_val, other = (LOL_VAL, "irrgb_val") if own == "lol" else (REAL_VAL, "lol_val")
    run = {"name": args.name, "restorer": f_name,
           "refiner": {"prior": best["prior"], "prior_mode": best["config"]["refiner"].get("prior_mode", "global"),
                       **{k: v for k, v in best["config"]["refiner"].items() if k in FAST_KEYS}},
           "train": best["config"]["train"], "threads": 1, "trained_on": trained_on, "exposure": "refiner",
           "val_data": own_val, "train_seconds": best["train_seconds"], "params_R": best["params_R"],
           "code": best["code"], "versions": best["versions"], "selected_run": best["run"], "study": study,
           "candidates": {r["run"]: round(mean(r), 3) for r in sorted(rows, key=lambda r: r["run"])},
           "val": {"name": best["names"], **{k: v for k, v in best.items() if k.startswith(per_image)}}}
    # the same R on the other camera's val pairs, per image
    other_pairs = (PairedFolder(DATA / "real_pairs" / "ir_rgb" / "val").pairs if own == "lol" else pp.lol_split()[1])
    ev = pp.evaluate_kept(folder, f_name, other_pairs, run["exposure"])
    run[other] = {"data": REAL_VAL if own == "lol" else LOL_VAL,
                  **{k: [r[k] for r in ev["images"]] for k in ("name", "psnr_F", "psnr_F+R")}}
    curve = [{"step": h["step"], "val_psnr_FR": h["val_psnr_FR"], "val_ssim_FR": h["val_ssim_FR"]}
             for h in best.get("curve", [])]
    lines = [f"# `{args.name}`: R trained on {trained_on[0]}, F frozen", "",
             f"F = `{f_name}` frozen; R trained from its identity initialisation on {trained_on[0]}; selected among "
             f"{len(rows)} candidate runs of `{study}` by mean PSNR on {own_val}: `{best['run']}`, {mean(best):.2f} dB "
             f"(F alone {statistics.fmean(best['psnr_F']):.2f}). R: {run['refiner']}; TrainConfig "
             f"{best['config']['train']}; {best['train_seconds'] / 60:.1f} min of training steps on 1 CPU thread "
             f"of a shared machine. Code {best['code']}; {best['versions']}.", "",
             f"On the other camera ({run[other]['data']}; never trained on): F "
             f"{statistics.fmean(run[other]['psnr_F']):.2f} → F + R {statistics.fmean(run[other]['psnr_F+R']):.2f} dB, "
             f"worse on {sum(a < b for a, b in zip(run[other]['psnr_F+R'], run[other]['psnr_F']))} of "
             f"{len(run[other]['psnr_F'])}.", "",
             f"Command: `python -m tools.ship {' '.join(sys.argv[1:])}`", "",
             "Candidates (mean PSNR of F + R on the selection pairs, dB):", "",
             *[f"- `{k}`: {v:.2f}" for k, v in run["candidates"].items()], ""] + history_table(curve)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"ship_{args.name}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"ship_{args.name}.json").write_text(json.dumps(run, indent=1))
    print("\n".join(lines), flush=True)
    if not args.no_ship:
        install(args.name, folder, run, final=False)


def install(name: str, out: Path, run: dict, final: bool = True) -> None:
    """Copy ``out/final`` (``final=False``: ``out`` itself) into the package as shipped refiner ``name``, write its
    index entry and model card (``run``: its results/ship_<name>.json record, whose validation was scored on the
    trained refiner)."""
    dest = PRETRAINED / name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(out / "final" if final else out, dest)
    for p in dest.iterdir():
        p.chmod(0o644)
    write_index_entry(name, run)
    PTGRefiner.from_pretrained(name)  # the installed copy loads (checksums, config); tests re-score it
    from tools.model_card import card, load_real

    (dest / "README.md").write_text(card(name, load_real()))
    print(f"shipped {name}: val PSNR F {statistics.mean(run['val']['psnr_F']):.2f} -> "
          f"F+R {statistics.mean(run['val']['psnr_F+R']):.2f} dB")


def main():
    ap = argparse.ArgumentParser(description=DESCRIPTION)
    ap.add_argument("name", choices=[*RECIPES, *REAL_RECIPES, *LOL_RECIPES])
    ap.add_argument("--work", default=None, help="training runs and caches (default runs/bench; for the LOL recipes "
                                                 "the paper-protocol's runs/paper_protocol)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=None, help="override the recipe's lr (lr study)")
    ap.add_argument("--iterations", type=int, default=None,
                    help="override the recipe's iterations (with --study paper-protocol: the budget of the runs that "
                         "compete)")
    ap.add_argument("--val-every", type=int, default=500)
    ap.add_argument("--no-ship", action="store_true", help="train and report only (lr study)")
    ap.add_argument("--light", action="store_true",
                    help="a synthetic recipe with the light R (kernel_hidden 32, 2 blocks) instead of its own (a comparison)")
    ap.add_argument("--study", default=None, choices=("paper-protocol", "fast-r", "do-no-harm"),
                    help="ship the best kept run of this training study (the LOL recipes' default: paper-protocol)")
    ap.add_argument("--arch", default="fast", help="with --study fast-r: the R whose runs compete (fast, light, ...)")
    ap.add_argument("--approach", default="plain", help="with --study do-no-harm: the approach whose runs compete")
    ap.add_argument("--condition", default="none", choices=("none", *PRIOR_CONDITIONS),
                    help="with --study paper-protocol: the prior condition whose runs compete")
    ap.add_argument("--index-only", action="store_true",
                    help="only rewrite the index entry of the shipped refiner from results/ship_<name>.json")
    ap.add_argument("--make-default", action="store_true",
                    help="with --index-only: make this refiner the default (of ptg-refine enhance and torch.hub)")
    ap.add_argument("--exposure", default=None,
                    help="with --index-only: set the shipped refiner's exposure in its config.json first "
                         "('refiner', 'restorer' or a mean luminance in (0, 1))")
    args = ap.parse_args()
    code_version()  # refuses an uncommitted tree before training, not when the results are written
    if args.light and args.name not in RECIPES:
        raise SystemExit(f"--light goes with a synthetic recipe ({', '.join(RECIPES)}), not {args.name}")
    if args.make_default and not args.index_only:
        raise SystemExit("--make-default goes with --index-only (the default is chosen after the refiners are measured)")
    if args.exposure is not None:
        if not args.index_only:
            raise SystemExit("--exposure goes with --index-only (a training run takes it from its recipe)")
        from ptg_refine._loading import write_config
        from ptg_refine.exposure import parse_exposure
        from ptg_refine.integrity import read_config

        value = parse_exposure(args.exposure)
        folder = PRETRAINED / args.name
        path = write_config(folder, {**read_config(folder), "exposure": value})  # the one writer of config.json
        print(f"{path}: exposure {value!r}")
    if args.name in LOL_RECIPES and args.study is None:
        args.study = "paper-protocol"
    if args.study is not None and not args.index_only:
        if args.name not in STUDY_RECIPES:
            raise SystemExit(f"--study ships {sorted(STUDY_RECIPES)}, not {args.name}")
        return ship_kept(args, STUDY_RECIPES[args.name])
    if args.name in REAL_RECIPES and not args.index_only:
        torch.set_num_threads(args.threads)
        return ship_real(args)
    if args.index_only:
        write_index_entry(args.name, json.loads((RESULTS / f"ship_{args.name}.json").read_text()), args.make_default)
        print(f"{INDEX_FILE}: entry {args.name} written" + (", the default refiner" if args.make_default else ""))
        return
    torch.set_num_threads(args.threads)
    out, run = train_recipe(args.name, Path(args.work or BENCH_WORK), args.threads, args.lr, args.iterations,
                            args.val_every, f"python -m tools.ship {' '.join(sys.argv[1:])}", args.light)
    if not args.no_ship:
        install(args.name, out, run)


LIGHT = FAST_R_ARCHS["light"]  # --light: the light R of benchmarks/fast_r.py (kernel_hidden 32, 2 blocks)


def train_recipe(name: str, work: Path, threads: int, lr: float | None = None, iterations: int | None = None,
                 val_every: int = 500, command: str | None = None, light: bool = False) -> tuple[Path, dict]:
    """Train the committed recipe RECIPES[name] on the SYNTHETIC recipe data (resumable, in work/ship/<tag>), write
    results/ship_<tag>.md and .json and return (the run folder, the run record). ``light``: the light R instead of the
    recipe's (the comparison of the two; the record names R's settings)."""
    f_name, kwargs, train_kw = RECIPES[name]
    if light:
        kwargs = {**kwargs, **LIGHT}
    train_kw = {**BASE, **train_kw}
    if lr is not None:
        train_kw["lr"] = lr
    if iterations is not None:
        train_kw["iterations"] = iterations
    tag = name + ("" if lr is None and iterations is None else f"_lr{train_kw['lr']:g}_it{train_kw['iterations']}")
    command = command or f"python -m tools.ship {name} --no-ship --threads {threads}"
    data = prepare_data(work)
    train, val = PairedFolder(data["train2"]).pairs, PairedFolder(data["val"]).pairs
    torch.manual_seed(train_kw["seed"])
    refiner = PTGRefiner(restorer=restorer(f_name), **kwargs)  # records F's zoo name: from_pretrained rebuilds it
    cfg = TrainConfig(**train_kw, val_every=val_every, ckpt_every=250)
    out = work / "ship" / tag
    trainer = Trainer(refiner, train, cfg, val_pairs=val, out_dir=out, cache_dir=work / "cache",
                      restorer_name=f_name, progress=False)
    trainer.resume()
    t0 = time.perf_counter()
    summary = trainer.fit()
    print(f"{tag}: {summary}", flush=True)
    hist = json.loads((out / "history.json").read_text())
    lines = [f"# `{name}`: validation PSNR against iterations (SYNTHETIC pairs)", "",
             f"Recipe: F = `{f_name}`, {kwargs}, TrainConfig {train_kw}; {threads} CPU threads, "
             f"{summary['train_seconds'] / 60:.1f} min of training steps (wall incl. validation "
             f"{(time.perf_counter() - t0) / 60:.1f} min in this call). Code {code_version()}; {versions()}.", "",
             f"Command: `{command}`", ""] + history_table(hist["history"])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"ship_{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    ev = evaluate_pairs(val, refiner=trainer.refiner, cache=trainer.cache, progress=False)
    run = {"name": name, "restorer": f_name, "refiner": kwargs, "train": train_kw, "threads": threads,
           "train_seconds": summary["train_seconds"], "params_R": sum(p.numel() for p in refiner.parameters()),
           "code": code_version(), "versions": versions(),
           "val": {k: [r[k] for r in ev["images"]] for k in ev["images"][0]}}
    (RESULTS / f"ship_{tag}.json").write_text(json.dumps(run, indent=1))
    return out, run

if __name__ == "__main__":
    main()
