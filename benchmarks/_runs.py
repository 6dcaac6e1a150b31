"""Shared by benchmarks/quality.py and benchmarks/prior_calibration.py: one training run + its evaluation,
results appended as JSON lines (so a benchmark can be resumed and split across processes).

Runs are keyed by their configuration: :func:`run_config` lists everything a run is made of (F, prior, R's
options, the training settings, the data) and :func:`config_hash` hashes it; a row records both, plus the commit
it ran on (``code``). :func:`is_done` treats a run as done only when a row of the same name has the same
configuration hash, so changing a recipe reruns exactly the runs it affects.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
from dataclasses import asdict
import time
from pathlib import Path

import torch

from ptg_refine import PTGRefiner
from ptg_refine.evaluate import evaluate_pairs, mean_se, psnr
from ptg_refine.restorers import create_restorer
from ptg_refine.training import Trainer, TrainConfig
from ptg_refine.training.config import RESUMABLE_CHANGES

from benchmarks._paths import DATA, LOL, LOL_VAL_EVERY, REPO, RESULTS, SHARED  # noqa: E402  (the one data root: PTG_DATA_DIR)

WEIGHTS = {"zero_dce": SHARED / "weights/zero_dce/Epoch99.pth", "zero_dce_pp": SHARED / "weights/zero_dce_pp/Epoch99.pth"}


# what a result depends on: the library and the code that measured it (not the results themselves)
CODE_PATHS = ["src", "benchmarks", "tools", ":(exclude)benchmarks/results"]
ALLOW_DIRTY = "PTG_BENCH_ALLOW_DIRTY"


@functools.lru_cache(maxsize=None)
def code_version() -> str:
    """git commit of the checkout, for results rows and headers. A result must name the code it ran on, so an
    uncommitted change under src/, benchmarks/ or tools/ stops the run (one line with the fix) unless
    PTG_BENCH_ALLOW_DIRTY=1, which marks the version ``-dirty`` (such results are for trying a change and are not
    committed: tests/test_benchmarks_package.py fails on them). Read once per process: ``python -m benchmarks``
calls it before a measuring command starts, so a run stops before its work, not after."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", *CODE_PATHS],
                               cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    if dirty and os.environ.get(ALLOW_DIRTY) != "1":
        lines = dirty.splitlines()
        listed = lines[0].strip() + (", ..." if len(lines) > 1 else "")
        raise SystemExit(f"benchmarks: uncommitted changes ({listed}): commit first so the results name the code "
                         f"they ran on, or set {ALLOW_DIRTY}=1 to try a change (results marked -dirty, not to be "
                         "committed)")
    return head + ("-dirty" if dirty else "")


def versions() -> str:
    import platform

    import timm
    return f"python {platform.python_version()}, torch {torch.__version__}, timm {timm.__version__}"


def restorer(name):
    return create_restorer(name, weights=WEIGHTS.get(name))


def lol_pairs(command: str | None = None):
    """(train, val) pairs of the fixed LOL-v1 split (436 / 49: every 10th id in numeric order is val) from
    PTG_LOL_DIR. When they are not laid out there: None, or, for a ``command`` that needs them, SystemExit saying how
    to lay them out."""
    from ptg_refine.data import PairedFolder, split_every

    if not (LOL / "low").is_dir():
        if command is None:
            return None
        raise SystemExit(f"{command}: no LOL pairs in {LOL}: lay them out with "
                         f"{DATA}/real_pairs/lol_v1_train/get_lol_v1_train.py SOURCE {LOL} (see its SOURCES.md), "
                         "or set PTG_LOL_DIR")
    return split_every(PairedFolder(LOL).pairs, LOL_VAL_EVERY)


def feature_cache(refiner, f_name: str, cache_dir):
    """F's outputs (and G's features) of full images, computed once per F and kept in ``cache_dir`` (on-disk, shared
    with the training runs of that F); identical to running F each time."""
    from ptg_refine.training import FeatureCache

    return FeatureCache(refiner.restorer, refiner.prior, f_name, getattr(refiner.prior, "name", "prior"), cache_dir,
                        global_prior=refiner.prior_mode != "dense", dense=refiner.uses_dense)


# TrainConfig fields that do not change what a run computes: those a resumed run may change, but its length
_NOT_CONFIG = RESUMABLE_CHANGES - {"iterations"}


def run_config(restorer_name: str, prior: str, prior_pretrained: bool, config: TrainConfig, train_pairs, val_pairs,
               prior_proj_dim=128, prior_dropout=0.0, **refiner_kwargs) -> dict:
    """What one run of :func:`train_and_eval` is made of (JSON-able); its arguments are train_and_eval's."""
    def names(pairs):
        return hashlib.sha256("\n".join(p.name for p in pairs).encode()).hexdigest()[:12]

    return {"restorer": restorer_name, "prior": prior, "prior_pretrained": bool(prior_pretrained),
            "refiner": {"prior_proj_dim": prior_proj_dim, "prior_dropout": prior_dropout, **refiner_kwargs},
            "train": {k: v for k, v in asdict(config).items() if k not in _NOT_CONFIG},
            "train_pairs": [len(train_pairs), names(train_pairs)], "val_pairs": [len(val_pairs), names(val_pairs)]}


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def is_done(rows: dict, run: str, config: dict) -> bool:
    """Whether ``rows`` (from :func:`load_done`) hold run ``run`` with this configuration."""
    row = rows.get(run)
    return row is not None and row.get("config_hash") == config_hash(config)


def record_run(path: Path, row: dict) -> None:
    """Append a finished run's row to the study's JSON-lines file (``load_done`` reads it back)."""
    path.parent.mkdir(exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(row) + "\n")


def load_done(path: Path) -> dict:
    if not path.is_file():
        return {}
    return {r["run"]: r for r in map(json.loads, path.read_text().splitlines()) if r}


@torch.no_grad()
def prior_diagnostics(refiner, cache, pairs) -> dict:
    """Per-image PSNR of F+R when fed a zero prior (g = 0 and, with a dense path, zero maps) or another
    image's prior (rolled by one) instead of its own."""
    gs = [cache.prior_features(p.low)[:1] for p in pairs]
    ds = [cache.dense_features(p.low)[None] if refiner.uses_dense else None for p in pairs]
    zero = lambda t: None if t is None else torch.zeros_like(t)  # noqa: E731
    out = {"psnr_zero_g": [], "psnr_other_g": []}
    for i, p in enumerate(pairs):
        low, target = p.low_float()[None], p.high_float()[None]
        restored = cache.restored(p.low)[None]
        j = (i + 1) % len(pairs)
        out["psnr_zero_g"].append(float(psnr(refiner.enhance(low, restored, zero(gs[i]), dense_features=zero(ds[i])),
                                             target)[0]))
        out["psnr_other_g"].append(float(psnr(refiner.enhance(low, restored, gs[j], dense_features=ds[j]), target)[0]))
    return out


def train_and_eval(run: str, restorer_name: str, prior: str, prior_pretrained: bool, train_pairs, val_pairs,
                   config: TrainConfig, cache_dir, prior_proj_dim=128, prior_dropout=0.0, diagnostics=False,
                   save_dir=None, init_from=None, val_during=False, **refiner_kwargs) -> dict:
    """Train R (from scratch, or from the refiner ``init_from``: a shipped name or folder, whose own config then
    defines R and G) and score it on ``val_pairs``. ``val_during``: also validate every ``config.val_every``
    iterations (the row's ``curve``)."""
    run_cfg = run_config(restorer_name, prior, prior_pretrained, config, train_pairs, val_pairs, prior_proj_dim,
                         prior_dropout, **refiner_kwargs)
    if init_from is not None:
        run_cfg["init_from"] = str(init_from)
    torch.manual_seed(config.seed)
    if init_from is not None:
        refiner = PTGRefiner.from_pretrained(init_from, restorer=restorer(restorer_name))
        # R adapted to the data it is scored on learns that data's brightness: Eq. 1 as is, as for a fresh R
        refiner.exposure = "refiner"
    else:
        refiner = PTGRefiner(restorer=restorer(restorer_name), prior=prior,
                             prior_pretrained="default" if prior_pretrained else None,
                             prior_proj_dim=prior_proj_dim, prior_dropout=prior_dropout, **refiner_kwargs)
    trainer = Trainer(refiner, train_pairs, config, cache_dir=cache_dir, restorer_name=restorer_name, progress=False,
                      val_pairs=val_pairs if val_during else None)
    t0 = time.perf_counter()
    summary = trainer.fit()
    wall = time.perf_counter() - t0
    res = evaluate_pairs(val_pairs, refiner=refiner, cache=trainer.cache, progress=False)
    row = {"run": run, "restorer": restorer_name, "prior": prior, "prior_pretrained": prior_pretrained,
           "seed": config.seed, "params_R": sum(p.numel() for p in refiner.parameters()),
           "train_seconds": summary["train_seconds"], "wall_seconds": wall,
           "names": [r["name"] for r in res["images"]],
           **{k: [r[k] for r in res["images"]] for k in res["images"][0] if k != "name"},
           "final_loss_ema": trainer.history[-1].get("loss_ema") if trainer.history else None,
           "code": code_version(), "versions": versions(), "iterations": config.iterations,
           "curve": [h for h in trainer.history if "val_psnr_FR" in h],
           **{k: res[k] for k in ("worse",) if k in res},
           "config": run_cfg, "config_hash": config_hash(run_cfg)}
    if diagnostics:
        row.update(prior_diagnostics(refiner, trainer.cache, val_pairs))
    if save_dir is not None:
        refiner.save_pretrained(save_dir)
    return row


def write_results(stem: str, lines: list[str], data) -> None:
    """results/<stem>.md (the lines) and results/<stem>.json (``data``), then the text on stdout."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.md").write_text("\n".join(lines))
    (RESULTS / f"{stem}.json").write_text(json.dumps(data, indent=1))
    print("\n".join(lines))


def fmt(values, digits=2) -> str:
    m, se = mean_se(values)
    return f"{m:.{digits}f} ± {se:.{digits}f}"


def seed_mean(rows, key):
    """Per-image value averaged over the seeds of ``rows`` (same image order in every row)."""
    return [sum(r[key][i] for r in rows) / len(rows) for i in range(len(rows[0][key]))]
