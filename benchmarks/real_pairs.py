"""Real-pair evaluation, the headline: F alone and every shipped refiner on REAL pairs of IR-RGB ``val``.

For each F of a shipped refiner and each shipped refiner (``ptg_refine.list_pretrained()``), on the 22 real pairs of
PTG_DATA_DIR/real_pairs/ir_rgb/val (default ../shared/data): PSNR and SSIM (mean ± s.e. over images), GT-mean PSNR
(the output scaled to the target's mean luminance first: exposure separated from restoration), the images F+R
makes worse than F, mean luminance and saturation of the output against the target's. Each refiner is scored with
its own exposure setting (config.json) and with the others (``refiner``: R's own brightness, ``restorer``: F's).
Whether a refiner saw IR-RGB in training is read from the index (``trained_on``); the cross-camera test of a
refiner that did not (general-purpose): F+R ≥ F on average and worse than F on at most 30 % of the images.

Command (about 4 min on 2 CPU threads):

    python -m benchmarks real

writes results/real_pairs.md and results/real_pairs.json.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from benchmarks._paths import DATA, RESULTS
from benchmarks._runs import code_version, versions
from ptg_refine import PTGRefiner, list_pretrained
from ptg_refine._pretrained import get_pretrained_config
from ptg_refine.data import PairedFolder
from ptg_refine.evaluate import evaluate_pairs, mean_se
from ptg_refine.restorers import create_restorer

VAL = DATA / "real_pairs" / "ir_rgb" / "val"
MODES = ("refiner", "restorer")
MAX_WORSE = 0.3  # the cross-camera (do-no-harm) test: F+R >= F on average and worse on at most 30 % of the images


def saw_camera(trained_on) -> bool:
    """Whether a refiner's training data (its index entry's ``trained_on``) held IR-RGB images."""
    return any("IR-RGB" in t for t in trained_on or ())


def passes_cross_camera(s: dict) -> bool:
    """The cross-camera test on one refiner's scores (:func:`score`)."""
    return s["delta"][0] >= 0 and s["worse"] <= MAX_WORSE * s["n"]


def _m(res, key):
    return mean_se([r[key] for r in res["images"]])


def score(pairs, refiner=None, restorer=None, exposure=None) -> dict:
    if refiner is not None and exposure is not None:
        refiner.exposure = exposure
    res = evaluate_pairs(pairs, restorer=restorer, refiner=refiner, progress=False)
    key = "F+R" if refiner is not None else "F"
    out = {k: _m(res, f"{k}_{key}") for k in ("psnr", "ssim", "gtmean_psnr", "lum", "sat")}
    out["lum_target"], out["sat_target"] = _m(res, "lum_target"), _m(res, "sat_target")
    out["per_image"] = [r[f"psnr_{key}"] for r in res["images"]]
    if refiner is not None:
        out["worse"], out["n"] = res["worse"], res["n"]
        out["delta"] = mean_se([r["psnr_F+R"] - r["psnr_F"] for r in res["images"]])
    return out


def row(name, s, note="") -> str:
    worse = f"{s['worse']}/{s['n']}" if "worse" in s else "—"
    delta = f"{s['delta'][0]:+.2f} ± {s['delta'][1]:.2f}" if "delta" in s else "—"
    return (f"| {name} | {s['psnr'][0]:.2f} ± {s['psnr'][1]:.2f} | {delta} | {s['ssim'][0]:.3f} | "
            f"{s['gtmean_psnr'][0]:.2f} | {worse} | {s['lum'][0]:.3f} / {s['lum_target'][0]:.3f} | "
            f"{s['sat'][0]:.3f} / {s['sat_target'][0]:.3f} | {note} |")


def summary(data: dict, by_f: dict[str, list[str]]) -> list[str]:
    """One row per shipped refiner at its shipped exposure setting (the table README shows)."""
    lines = ["## The shipped refiners at their shipped setting", "",
             "| refiner | F | trained on | exposure | F alone (dB) | F + R (dB) | Δ vs F | worse than F | "
             "luminance / target | on this camera |", "|---|---|---|---|---|---|---|---|---|---|"]
    for f_name, refiners in by_f.items():
        f = data[f_name]["F"]
        for name in refiners:
            cfg = get_pretrained_config(name)
            exposure = cfg.exposure
            s = data[f_name][f"{name}/{exposure}"]
            seen = saw_camera(cfg.trained_on)
            trained = "real IR-RGB train pairs" if seen else "synthetic pairs only"
            if seen:
                verdict = "in-domain (adapted to it)"
            else:
                verdict = f"never seen: cross-camera test {'passed' if passes_cross_camera(s) else 'FAILED'}"
            lines.append(f"| `{name}` | `{f_name}` | {trained} | `{exposure}` | {f['psnr'][0]:.2f} | {s['psnr'][0]:.2f} | "
                         f"{s['delta'][0]:+.2f} ± {s['delta'][1]:.2f} | {s['worse']}/{s['n']} | "
                         f"{s['lum'][0]:.3f} / {s['lum_target'][0]:.3f} | {verdict} |")
    return lines + [""]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pairs = PairedFolder(VAL).pairs
    names = list_pretrained()
    by_f: dict[str, list[str]] = {}
    for name in names:
        by_f.setdefault(get_pretrained_config(name).restorer, []).append(name)
    lines = ["# Real pairs: F alone and the shipped refiners on IR-RGB val (REAL)", "",
             f"{len(pairs)} real low/normal pairs of one camera (`real_pairs/ir_rgb/val`). PSNR mean ± s.e. over "
             "images; Δ: F+R − F per image, mean ± s.e.; GT-mean: output scaled to the target's mean luminance "
             "first; worse: images where F+R < F in PSNR; luminance and saturation: output / target means. "
             "**exposure**: the refiner's inference setting (`refiner`: R's own brightness, Eq. 1; `restorer`: "
             "F's mean luminance kept; a number: the output scaled to that mean luminance); ★ marks the setting each "
             "refiner ships with.", "",
             "Generated by `python -m benchmarks real` (benchmarks/real_pairs.py).", ""]
    data = {}
    for f_name, refiners in by_f.items():
        f = create_restorer(f_name)
        s_f = score(pairs, restorer=f)
        data[f_name] = {"F": s_f}
        lines += [f"## F = {f_name}", "",
                  "| model | PSNR | Δ vs F | SSIM | GT-mean PSNR | worse | luminance | saturation | notes |",
                  "|---|---|---|---|---|---|---|---|---|", row(f"{f_name} alone", s_f)]
        for name in refiners:
            cfg = get_pretrained_config(name)
            refiner = PTGRefiner.from_pretrained(name)
            shipped = refiner.exposure
            seen = saw_camera(cfg.trained_on)
            modes = MODES if shipped in MODES else (*MODES, shipped)
            for mode in modes:
                s = score(pairs, refiner=refiner, exposure=mode)
                data[f_name][f"{name}/{mode}"] = s
                note = "trained on IR-RGB train (same camera)" if seen else "never saw IR-RGB (cross-camera)"
                if not seen:
                    note += f"; cross-camera test {'passed' if passes_cross_camera(s) else 'FAILED'}"
                star = " ★" if mode == shipped else ""
                lines.append(row(f"`{name}`, exposure {mode}{star}", s, note))
        lines.append("")
    lines += summary(data, by_f)
    lines += [f"Versions: {versions()}; code {code_version()}.", ""]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "real_pairs.md").write_text("\n".join(lines))
    (RESULTS / "real_pairs.json").write_text(json.dumps(data, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
