"""Exposure policies of the general-purpose refiners on real pairs: a fixed target against one fitted to the scene.

The output brightness of ``PTGRefiner.enhance`` (``exposure=``, :mod:`ptg_refine.exposure`): ``refiner`` (R's own,
Eq. 1), ``restorer`` (F's mean luminance kept), ``0.45`` (a fixed target mean luminance, a plain gain then a
clamp: the setting ``sci-none`` ships with) and ``scene`` (a target mean luminance predicted from the input, reached
by a tone curve with a highlight roll-off; an input at or above its predicted target is not brightened).

Paired sets (REAL; never used to fit ``scene``, whose constants come from the train parts):

* **IR-RGB val**: the 22 pairs of PTG_DATA_DIR/real_pairs/ir_rgb/val (default ../shared/data);
* **LOL val**: the 49 pairs of the LOL-v1 training split's fixed val part (every 10th id, ``split_every``; in
  PTG_LOL_DIR, default data/lol_v1_train). IAT's LOL weights were trained on all 485 pairs, LOL val included.

For the shipped general-purpose refiners ``sci-none`` (F = SCI) and ``iat-general`` (F = IAT; withdrawn since, for
failing leave-one-camera-out on LOL: a rerun measures ``iat-lol``), per image: F's
output and R's (Eq. 1) are computed once (float32) and every policy is applied to them
(``apply_exposure(enhance(low, restored, exposure="refiner"), restored, policy, low)``, which is what
``enhance(low, restored, exposure=policy)`` returns). Measures (``ptg_refine.artefacts``), output against target:
the absolute error of the mean luminance, PSNR, the black level (1st-percentile luminance) minus the target's, and
the clipped share (pixels with a channel >= 254.5/255) minus the target's, in points.

**Well-exposed inputs**: the targets (``high``) of the same val pairs fed as inputs; PSNR of the output against
that input, and its clipped share, for F alone and each policy (a policy should be no worse than F).

**Unpaired night shots** (``real_lowlight/dicm``, 64 photos; looked at, never fitted on): black level and clipped
share of ``sci-none`` under each policy (no ground truth), and of ``dicm/01.jpg``, the photo users reported.

Criteria (the ``scene`` policy of the refiner ``sci-none`` must meet them to replace 0.45): on both paired val
sets, the black level within 0.03 of the target's on average (mean of the signed difference) and the clipped share
at most the target's + 2 points; on well-exposed inputs, mean PSNR against the input and mean clipped share no
worse than F alone.

Command (about 3 min, 1 CPU thread; ``--refiners``, ``--sets`` and ``--no-unpaired`` restrict it):

    python -m benchmarks exposure-policy

writes results/exposure_policy.md and results/exposure_policy.json (per-image values).

**Fitting scene** (``python -m benchmarks exposure-policy --fit``, 20 s; prints, writes nothing): the constants of
``ptg_refine.exposure`` (SCENE_LOG_A, SCENE_B, SCENE_MAX) from the TRAIN parts only (LOL-v1 train: 436 pairs;
IR-RGB train: 63): log(target mean luminance) = a + b log(max(input median luminance, SCENE_MIN_INPUT)), at most
log(cap), weighted least squares with each camera weighing half, on a grid (a step 0.01, b step 0.005, cap in
FIT_CAPS). It also prints the error of the predicted target on the val parts, against the fixed 0.45.
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from benchmarks._paths import DATA
from benchmarks._runs import code_version, lol_pairs, versions, write_results
from ptg_refine import PTGRefiner
from ptg_refine.artefacts import black_level, clipped_share
from ptg_refine.data import ImageFolder, PairedFolder
from ptg_refine.evaluate import mean_se, psnr
from ptg_refine.exposure import KNEE, apply_exposure, mean_luminance

REFINERS = ("sci-none", "iat-lol")  # (iat-general until it was withdrawn: results/exposure_policy.md measured it)
POLICIES = ("refiner", "restorer", 0.45, "scene")
SETS = {"ir_rgb": "IR-RGB val (22 REAL pairs)", "lol": "LOL val (49 REAL pairs, every 10th id)"}
UNPAIRED = "dicm"
REPORTED = "01.jpg"  # the dicm photo users reported (0.45 lifts its black level from 0.000 to 0.135)
MAX_BLACK = 0.03  # the criteria: |mean(black level - target's)| <= 0.03, clipped share <= target's + 2 points
MAX_CLIP_POINTS = 2.0


FIT_CAPS = (0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 1.0)


def target_stats(pairs) -> tuple:
    """(median luminance of each low image, mean luminance of each target, mean luminance of each low image)."""
    from ptg_refine.exposure import luminance_quantile

    med, tgt, mean = [], [], []
    for p in pairs:
        low = p.low_float()[None]
        med.append(float(luminance_quantile(low, 0.5)[0]))
        mean.append(float(mean_luminance(low)[0]))
        tgt.append(float(mean_luminance(p.high_float()[None])[0]))
    return med, tgt, mean


def fit_scene() -> None:
    """Fit the "scene" constants on the train parts and print them with their val errors (see the docstring)."""
    import numpy as np

    from ptg_refine import exposure

    lol_train, lol_val = lol_pairs("exposure-policy")
    ir = DATA / "real_pairs" / "ir_rgb"
    train = [target_stats(lol_train), target_stats(PairedFolder(ir / "train").pairs)]
    x = np.log(np.maximum(np.concatenate([t[0] for t in train]), exposure.SCENE_MIN_INPUT))
    y = np.log(np.concatenate([t[1] for t in train]))
    w = np.concatenate([np.full(len(t[0]), 0.5 / len(t[0])) for t in train])
    a, b = np.arange(-100, 101)[:, None, None] / 100, np.arange(0, 101)[None, :, None] / 200
    best = None
    for cap in FIT_CAPS:
        loss = (w * (np.minimum(a + b * x, np.log(cap)) - y) ** 2).sum(-1)
        i, j = np.unravel_index(loss.argmin(), loss.shape)
        if best is None or loss[i, j] < best[0]:
            best = (float(loss[i, j]), float(a[i, 0, 0]), float(b[0, j, 0]), cap)
    loss, a, b, cap = best
    print(f"SCENE_LOG_A = {a:.2f}\nSCENE_B = {b:.3f}\nSCENE_MAX = {cap}\n(weighted mean squared log error {loss:.4f})")
    for name, pairs in (("LOL val", lol_val), ("IR-RGB val", PairedFolder(ir / "val").pairs)):
        med, tgt, mean = map(np.array, target_stats(pairs))
        pred = np.maximum(np.minimum(np.exp(a + b * np.log(np.maximum(med, exposure.SCENE_MIN_INPUT))), cap), mean)
        print(f"{name}: |predicted - target| mean luminance {np.abs(pred - tgt).mean():.3f} "
              f"(fixed 0.45: {np.abs(0.45 - tgt).mean():.3f})")


def val_pairs(name: str):
    if name == "ir_rgb":
        return PairedFolder(DATA / "real_pairs" / "ir_rgb" / "val").pairs
    return lol_pairs("exposure-policy")[1]


@torch.no_grad()
def f_and_r(refiner: PTGRefiner, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """F's output and F + R's (Eq. 1, clamped: exposure "refiner") of one (1,3,H,W) image, each computed once."""
    restored = refiner.restore(image)
    return restored, refiner.enhance(image, restored, exposure="refiner", precision="fp32")


def outputs(refiner: PTGRefiner, name: str, key: str, images: dict, cache: Path | None) -> dict:
    """{image name: (F, F + R)} of ``images`` ({name: (1,3,H,W)}), read from / written to ``cache`` if given."""
    path = cache / f"{name}_{key}.pt" if cache is not None else None
    if path is not None and path.is_file():
        return torch.load(path)
    out = {n: f_and_r(refiner, x) for n, x in images.items()}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(out, path)
    return out


def label(policy) -> str:
    return f"`{policy}`"


def measure_pairs(pairs, restored_out: dict) -> dict:
    """Per-image measures of F alone and of each policy against the targets: {output: {measure: [values]}}."""
    rows: dict = {}
    for p in pairs:
        low, target = p.low_float()[None], p.high_float()[None]
        restored, out = restored_out[p.name]
        t_lum, t_black, t_clip = (float(f(target)[0]) for f in (mean_luminance, black_level, clipped_share))
        cands = {"F alone": restored.clamp(0, 1), **{label(q): apply_exposure(out, restored, q, low) for q in POLICIES}}
        for key, y in cands.items():
            r = rows.setdefault(key, {k: [] for k in ("lum_err", "psnr", "black_diff", "clip_diff", "black", "clip",
                                                      "lum", "lum_target", "black_target", "clip_target")})
            lum, black, clip = (float(f(y)[0]) for f in (mean_luminance, black_level, clipped_share))
            for k, v in (("lum_err", abs(lum - t_lum)), ("psnr", float(psnr(y, target)[0])),
                         ("black_diff", black - t_black), ("clip_diff", 100 * (clip - t_clip)), ("black", black),
                         ("clip", 100 * clip), ("lum", lum), ("lum_target", t_lum), ("black_target", t_black),
                         ("clip_target", 100 * t_clip)):
                r[k].append(v)
    return rows


def measure_well_exposed(pairs, restored_out: dict) -> dict:
    """The targets fed as inputs: PSNR of each output against the input itself, clipped share and mean luminance."""
    rows: dict = {}
    for p in pairs:
        x = p.high_float()[None]
        restored, out = restored_out[p.name]
        cands = {"F alone": restored.clamp(0, 1), **{label(q): apply_exposure(out, restored, q, x) for q in POLICIES}}
        for key, y in cands.items():
            r = rows.setdefault(key, {k: [] for k in ("psnr", "clip", "clip_input", "lum", "lum_input")})
            r["psnr"].append(float(psnr(y, x)[0]))
            r["clip"].append(100 * float(clipped_share(y)[0]))
            r["clip_input"].append(100 * float(clipped_share(x)[0]))
            r["lum"].append(float(mean_luminance(y)[0]))
            r["lum_input"].append(float(mean_luminance(x)[0]))
    return rows


def _ms(values, digits=3) -> str:
    m, se = mean_se(values)
    return f"{m:.{digits}f} ± {se:.{digits}f}"


def pairs_table(rows: dict) -> list[str]:
    first = next(iter(rows.values()))
    lines = [f"Targets: mean luminance {statistics.fmean(first['lum_target']):.3f}, black level "
             f"{statistics.fmean(first['black_target']):.3f}, clipped {statistics.fmean(first['clip_target']):.2f} %.",
             "", "| output | mean luminance error | PSNR (dB) | better than `0.45` (PSNR) | black level − target's | "
             "black level | clipped − target's (points) | clipped % |", "|---|---|---|---|---|---|---|---|"]
    fixed = rows[label(0.45)]["psnr"]
    for key, r in rows.items():
        better = f"{sum(a > b for a, b in zip(r['psnr'], fixed))}/{len(fixed)}" if key != label(0.45) else "—"
        lines.append(f"| {key} | {_ms(r['lum_err'])} | {_ms(r['psnr'], 2)} | {better} | {_ms(r['black_diff'])} | "
                     f"{statistics.fmean(r['black']):.3f} | {_ms(r['clip_diff'], 2)} | "
                     f"{statistics.fmean(r['clip']):.2f} |")
    return lines + [""]


def well_exposed_table(rows: dict) -> list[str]:
    f = rows["F alone"]
    lines = [f"Inputs (the val targets): mean luminance {statistics.fmean(f['lum_input']):.3f}, clipped "
             f"{statistics.fmean(f['clip_input']):.2f} %.", "",
             "| output | PSNR vs the input (dB) | worse than F (PSNR, images) | clipped % | more clipped than F "
             "(images) | mean luminance |", "|---|---|---|---|---|---|"]
    for key, r in rows.items():
        worse = "—" if key == "F alone" else f"{sum(a < b for a, b in zip(r['psnr'], f['psnr']))}/{len(f['psnr'])}"
        more = "—" if key == "F alone" else f"{sum(a > b for a, b in zip(r['clip'], f['clip']))}/{len(f['clip'])}"
        lines.append(f"| {key} | {_ms(r['psnr'], 2)} | {worse} | {_ms(r['clip'], 2)} | {more} | "
                     f"{statistics.fmean(r['lum']):.3f} |")
    return lines + [""]


def criteria(data: dict, refiner: str, policy) -> dict:
    """Whether ``policy`` of ``refiner`` meets the criteria on each set scored (see the module docstring)."""
    out = {}
    key = label(policy)
    for s, d in data[refiner].items():
        r, w, wf = d["pairs"][key], d["well_exposed"][key], d["well_exposed"]["F alone"]
        black, clip = statistics.fmean(r["black_diff"]), statistics.fmean(r["clip_diff"])
        out[s] = {"black": (black, abs(black) <= MAX_BLACK), "clip": (clip, clip <= MAX_CLIP_POINTS),
                  "well_psnr": (statistics.fmean(w["psnr"]) - statistics.fmean(wf["psnr"]),
                                statistics.fmean(w["psnr"]) >= statistics.fmean(wf["psnr"])),
                  "well_clip": (statistics.fmean(w["clip"]) - statistics.fmean(wf["clip"]),
                                statistics.fmean(w["clip"]) <= statistics.fmean(wf["clip"]))}
    return out


def criteria_table(data: dict) -> list[str]:
    lines = ["## The criteria", "",
             f"Black level: mean of (output − target) within ±{MAX_BLACK}; clipped: mean of (output − target) at most "
             f"+{MAX_CLIP_POINTS:.0f} points; well-exposed inputs: mean PSNR against the input and mean clipped share "
             "no worse than F alone (differences to F shown).", "",
             "| refiner | exposure | set | black level − target's | clipped − target's (points) | "
             "well-exposed: PSNR − F's (dB) | well-exposed: clipped − F's (points) | all met |",
             "|---|---|---|---|---|---|---|---|"]
    for refiner in data:
        for policy in POLICIES:
            for s, c in criteria(data, refiner, policy).items():
                ok = all(v[1] for v in c.values())
                mark = {k: "" if v[1] else " ✗" for k, v in c.items()}
                lines.append(f"| `{refiner}` | `{policy}` | {SETS[s].split(' (')[0]} | "
                             f"{c['black'][0]:+.3f}{mark['black']} | "
                             f"{c['clip'][0]:+.2f}{mark['clip']} | {c['well_psnr'][0]:+.2f}{mark['well_psnr']} | "
                             f"{c['well_clip'][0]:+.2f}{mark['well_clip']} | {'yes' if ok else 'no'} |")
    return lines + [""]


@torch.no_grad()
def unpaired(refiner: PTGRefiner, cache: Path | None) -> tuple[list[str], dict]:
    folder = ImageFolder(DATA / "real_lowlight" / UNPAIRED)
    images = {folder.files[i].name: folder.read(i)[0][None] for i in range(len(folder))}
    outs = outputs(refiner, "sci-none", UNPAIRED, images, cache)
    rows: dict = {}
    for n, x in images.items():
        restored, out = outs[n]
        for key, y in {"input": x, "F alone": restored.clamp(0, 1),
                       **{label(q): apply_exposure(out, restored, q, x) for q in POLICIES}}.items():
            r = rows.setdefault(key, {"name": [], "black": [], "clip": [], "lum": []})
            r["name"].append(n)
            r["black"].append(float(black_level(y)[0]))
            r["clip"].append(100 * float(clipped_share(y)[0]))
            r["lum"].append(float(mean_luminance(y)[0]))
    lines = [f"## Unpaired night shots: `sci-none` on real_lowlight/{UNPAIRED} ({len(images)} photos)", "",
             "No ground truth; looked at, never fitted on. Means over the photos, and the reported photo "
             f"`{UNPAIRED}/{REPORTED}`.", "",
             f"| output | mean luminance | black level | clipped % | `{REPORTED}`: mean luminance | black level | "
             "clipped % |", "|---|---|---|---|---|---|---|"]
    for key, r in rows.items():
        i = r["name"].index(REPORTED) if REPORTED in r["name"] else None
        one = (f"{r['lum'][i]:.3f} | {r['black'][i]:.3f} | {r['clip'][i]:.1f}" if i is not None else "— | — | —")
        lines.append(f"| {key} | {statistics.fmean(r['lum']):.3f} | {statistics.fmean(r['black']):.3f} | "
                     f"{statistics.fmean(r['clip']):.1f} | {one} |")
    return lines + [""], rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--refiners", nargs="+", default=list(REFINERS), choices=REFINERS)
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--no-unpaired", action="store_true", help=f"skip the unpaired photos of real_lowlight/{UNPAIRED}")
    ap.add_argument("--cache", type=Path, default=None,
                    help="keep F's and R's outputs in this folder and reuse them on a later run (to try a policy "
                         "without recomputing F and R; the results then say so)")
    ap.add_argument("--fit", action="store_true", help="fit the constants of exposure 'scene' on the train parts "
                                                       "and print them (writes nothing)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.fit:
        return fit_scene()
    command = "python -m benchmarks exposure-policy" + ("" if args.refiners == list(REFINERS) else
                                                        f" --refiners {' '.join(args.refiners)}") + \
        ("" if args.sets == list(SETS) else f" --sets {' '.join(args.sets)}") + \
        (" --no-unpaired" if args.no_unpaired else "")
    version = code_version()
    lines = ["# Exposure policies on real pairs: a fixed target against one fitted to the scene", "",
             f"Generated by `{command}` (benchmarks/exposure_policy.py has the definitions)"
             + (", F and R outputs read from the `--cache` folder of an earlier run of it (the same shipped refiners)" if args.cache else "") + ".", "",
             "Policies (`exposure=`): `refiner` (R's own, Eq. 1), `restorer` (F's mean luminance), `0.45` (that mean "
             "luminance: a gain then a clamp; `sci-none` ships with it), `scene` (a target predicted from the input's "
             "median luminance, constants fitted on the train parts by `python -m benchmarks exposure-policy --fit`, "
             "reached by a tone curve that keeps the output's black level and rolls the highlights off above "
             f"{KNEE}, a knee chosen on these val sets; inputs at or above their target are not brightened). "
             "Means ± s.e. over images. Black level: 1st-percentile luminance; clipped: % of pixels with a channel "
             ">= 254.5/255.", ""]
    data: dict = {}
    for name in args.refiners:
        refiner = PTGRefiner.from_pretrained(name).eval()
        data[name] = {}
        for s in args.sets:
            pairs = val_pairs(s)
            low = outputs(refiner, name, f"{s}_low", {p.name: p.low_float()[None] for p in pairs}, args.cache)
            high = outputs(refiner, name, f"{s}_high", {p.name: p.high_float()[None] for p in pairs}, args.cache)
            data[name][s] = {"names": [p.name for p in pairs], "pairs": measure_pairs(pairs, low),
                             "well_exposed": measure_well_exposed(pairs, high)}
            lines += [f"## `{name}` (F = {refiner.refiner_config.restorer}) on {SETS[s]}", "",
                      *pairs_table(data[name][s]["pairs"]),
                      f"### Well-exposed inputs: `{name}` fed the {len(pairs)} targets of {SETS[s].split(' (')[0]}", "",
                      *well_exposed_table(data[name][s]["well_exposed"])]
    lines += criteria_table(data)
    if not args.no_unpaired and "sci-none" in args.refiners:
        text, data["unpaired"] = unpaired(PTGRefiner.from_pretrained("sci-none").eval(), args.cache)
        lines += text
    lines += [f"Versions: {versions()}; code {version}.", ""]
    write_results("exposure_policy", lines, data)


if __name__ == "__main__":
    main()
