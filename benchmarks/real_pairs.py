"""Real-pair evaluation, the headline: F alone and every shipped refiner on REAL pairs of two cameras.

Paired sets (each refiner is scored on both):

* **IR-RGB val**: the 22 real pairs of PTG_DATA_DIR/real_pairs/ir_rgb/val (default ../shared/data; one camera);
* **LOL val**: the 49 real pairs of the LOL-v1 training split's fixed val part (every 10th id in numeric order,
  ``ptg_refine.data.split_every``; laid out in PTG_LOL_DIR, default data/lol_v1_train, by
  ``real_pairs/lol_v1_train/get_lol_v1_train.py``; another camera). IAT's LOL weights were trained on all 485
  pairs, LOL val included: IAT alone is fitted there.

For each F of a shipped refiner and each shipped refiner (``ptg_refine.list_pretrained()``): PSNR and SSIM (mean ±
s.e. over images), GT-mean PSNR (the output scaled to the target's mean luminance first: exposure separated from
restoration), the images F+R makes worse than F, mean luminance and saturation against the target's, and the
artefact measures of ``ptg_refine.artefacts``: the Nyquist share (period-2 texture) of F + R over F's per image
(mean and max), the black level (1st-percentile luminance) and the clipped share against the target's. Each
refiner is scored with its own exposure setting (config.json) and with the others (``refiner``: R's own
brightness, ``restorer``: F's, ``scene``: a mean predicted from the input). Whether a refiner saw a camera in training is read from the index
(``trained_on``).

**Leave-one-camera-out**, the rule a general-purpose refiner must pass on every camera it never saw: F + R ≥ F −
0.1 dB on average and worse than F on at most 30 % of the images.

Unpaired real photos (``real_lowlight/dicm``, ``lime``, ``zerodcepp_real``; looked at, never trained on): the
Nyquist share of F and F + R per image (F + R / F: mean, max, and images above 1.5×). NIQE is added where
``ptg_refine.iqa`` is available.

Command (about 15 min on 2 CPU threads; ``--no-unpaired`` skips the unpaired sets):

    python -m benchmarks real

writes results/real_pairs.md and results/real_pairs.json.
"""
from __future__ import annotations

import argparse
import statistics

import torch

from benchmarks._paths import DATA, LOL
from benchmarks._runs import REPO, code_version, feature_cache, lol_pairs, versions, write_results
from ptg_refine import PTGRefiner, list_pretrained
from ptg_refine._pretrained import get_pretrained_config
from ptg_refine.data import ImageFolder, PairedFolder
from ptg_refine.evaluate import evaluate_pairs, mean_se
from ptg_refine.restorers import create_restorer

VAL = DATA / "real_pairs" / "ir_rgb" / "val"
# camera: how its name appears in an index entry's trained_on
CAMERAS = ("IR-RGB", "LOL")
SET_TEXT = {"IR-RGB": "IR-RGB val (22 REAL pairs, `real_pairs/ir_rgb/val`)",
            "LOL": "LOL val (49 REAL pairs of the LOL-v1 training split, every 10th id)"}
UNPAIRED = ("dicm", "lime", "zerodcepp_real")
MODES = ("refiner", "restorer", "scene")
MAX_WORSE = 0.3  # the cross-camera (do-no-harm) test: F+R >= F - MIN_DELTA on average, worse on at most 30 %
MIN_DELTA = -0.1
MAX_NYQUIST_RATIO = 1.5  # the artefact target: F + R's Nyquist share at most 1.5x F's on every image
BLACK_LIFT = 0.02  # unpaired photos: F + R raising F's 1st-percentile luminance by more than this is counted


def camera_pairs(camera: str):
    """The val pairs of ``camera``; None for LOL when its pairs are not laid out (the section says so)."""
    if camera == "IR-RGB":
        return PairedFolder(VAL).pairs
    split = lol_pairs()
    return None if split is None else split[1]


def saw_camera(trained_on, camera: str = "IR-RGB") -> bool:
    """Whether a refiner's training data (its index entry's ``trained_on``) held images of ``camera``."""
    return any(camera in t for t in trained_on or ())


def passes_cross_camera(s: dict) -> bool:
    """The leave-one-camera-out test on one refiner's scores on a camera it never saw (:func:`score`)."""
    return s["delta"][0] >= MIN_DELTA and s["worse"] <= MAX_WORSE * s["n"]


def _m(res, key):
    return mean_se([r[key] for r in res["images"]])


def score(pairs, refiner=None, restorer=None, exposure=None, cache=None) -> dict:
    if refiner is not None and exposure is not None:
        refiner.exposure = exposure
    res = evaluate_pairs(pairs, restorer=restorer, refiner=refiner, progress=False, cache=cache)
    key = "F+R" if refiner is not None else "F"
    out = {k: _m(res, f"{k}_{key}") for k in ("psnr", "ssim", "gtmean_psnr", "lum", "sat", "black", "clip")}
    for k in ("lum", "sat", "black", "clip"):
        out[f"{k}_target"] = _m(res, f"{k}_target")
    out["per_image"] = [r[f"psnr_{key}"] for r in res["images"]]
    out["nyq"] = [r[f"nyq_{key}"] for r in res["images"]]
    if refiner is not None:
        out["worse"], out["n"] = res["worse"], res["n"]
        out["delta"] = mean_se([r["psnr_F+R"] - r["psnr_F"] for r in res["images"]])
        out["nyq_ratio"] = [r["nyq_F+R"] / max(r["nyq_F"], 1e-12) for r in res["images"]]
    return out


def _ratio_text(ratios) -> str:
    return f"{statistics.fmean(ratios):.2f}× / {max(ratios):.1f}×"


def row(name, s, note="") -> str:
    worse = f"{s['worse']}/{s['n']}" if "worse" in s else "—"
    delta = f"{s['delta'][0]:+.2f} ± {s['delta'][1]:.2f}" if "delta" in s else "—"
    nyq = _ratio_text(s["nyq_ratio"]) if "nyq_ratio" in s else "1×"
    return (f"| {name} | {s['psnr'][0]:.2f} ± {s['psnr'][1]:.2f} | {delta} | {s['ssim'][0]:.3f} | "
            f"{s['gtmean_psnr'][0]:.2f} | {worse} | {s['lum'][0]:.3f} / {s['lum_target'][0]:.3f} | "
            f"{s['sat'][0]:.3f} / {s['sat_target'][0]:.3f} | {nyq} | {s['black'][0]:.3f} / {s['black_target'][0]:.3f} "
            f"| {100 * s['clip'][0]:.1f} / {100 * s['clip_target'][0]:.1f} | {note} |")


def verdict_text(seen: bool, s: dict) -> str:
    if seen:
        return "in-domain (trained on it)"
    return f"never seen: leave-one-camera-out {'passed' if passes_cross_camera(s) else 'FAILED'}"


def summary(data: dict, by_f: dict[str, list[str]]) -> list[str]:
    """One row per shipped refiner and camera at its shipped exposure setting (the table README shows)."""
    lines = ["## The shipped refiners at their shipped setting", "",
             "| refiner | F | camera (val pairs) | exposure | F alone (dB) | F + R (dB) | Δ vs F | worse than F | "
             "Nyquist share F + R / F (mean / max) | on this camera |", "|---|---|---|---|---|---|---|---|---|---|"]
    for f_name, refiners in by_f.items():
        for name in refiners:
            cfg = get_pretrained_config(name)
            for camera in CAMERAS:
                if camera not in data:
                    continue
                f, s = data[camera][f_name]["F"], data[camera][f_name][f"{name}/{cfg.exposure}"]
                lines.append(f"| `{name}` | `{f_name}` | {camera} ({s['n']}) | `{cfg.exposure}` | {f['psnr'][0]:.2f} | "
                             f"{s['psnr'][0]:.2f} | {s['delta'][0]:+.2f} ± {s['delta'][1]:.2f} | "
                             f"{s['worse']}/{s['n']} | {_ratio_text(s['nyq_ratio'])} | "
                             f"{verdict_text(saw_camera(cfg.trained_on, camera), s)} |")
    return lines + [""]


def leave_one_camera_out(data: dict, by_f: dict[str, list[str]]) -> list[str]:
    lines = ["## Leave-one-camera-out: every refiner on the cameras it never saw", "",
             f"The rule before a general-purpose refiner ships: on each camera it never saw, F + R ≥ F "
             f"{MIN_DELTA:+.1f} dB on average and worse than F on at most {MAX_WORSE * 100:.0f} % of the images "
             "(at its shipped exposure setting).", "",
             "| refiner | F | never saw | Δ vs F | worse than F | result |", "|---|---|---|---|---|---|"]
    for f_name, refiners in by_f.items():
        for name in refiners:
            cfg = get_pretrained_config(name)
            for camera in CAMERAS:
                if camera not in data or saw_camera(cfg.trained_on, camera):
                    continue
                s = data[camera][f_name][f"{name}/{cfg.exposure}"]
                lines.append(f"| `{name}` | `{f_name}` | {camera} | {s['delta'][0]:+.2f} ± {s['delta'][1]:.2f} | "
                             f"{s['worse']}/{s['n']} | {'passed' if passes_cross_camera(s) else 'FAILED'} |")
    return lines + [""]


def unpaired(by_f: dict[str, list[str]], sets=UNPAIRED) -> tuple[list[str], dict]:
    """Nyquist share, black level (and NIQE where available) of F and each shipped refiner on the unpaired real
    photos."""
    from ptg_refine.artefacts import nyquist_share
    from ptg_refine.exposure import black_point

    try:
        from ptg_refine.iqa import load_niqe_params, niqe
        niqe_params = load_niqe_params(DATA / "iqa" / "niqe_pris_params.npz")
    except (ImportError, FileNotFoundError):
        niqe = niqe_params = None
    lines = ["## Unpaired real photos: texture, black level and naturalness", "",
             "Real low-light photos without ground truth (`real_lowlight/`; looked at, never trained on). Nyquist "
             "share: F + R over F per image (mean / max, and the images above "
             f"{MAX_NYQUIST_RATIO}×). Black level: 1st-percentile luminance (`ptg_refine.exposure.black_point`), "
             "mean over images (a refiner that lifts it greys the blacks of night scenes), and the images where F + R "
             f"lifts F's by more than {BLACK_LIFT}. NIQE (Mittal et al., IEEE SPL 2013; lower is better): mean over "
             "images. Each refiner at its shipped exposure.", "",
             "| set (images) | model | Nyquist share F + R / F (mean / max) | images > 1.5× | black level | "
             f"images lifted > {BLACK_LIFT} | NIQE |",
             "|---|---|---|---|---|---|---|"]
    data: dict = {}
    for set_name in sets:
        folder = ImageFolder(DATA / "real_lowlight" / set_name)
        images = [folder.read(i)[0][None] for i in range(len(folder))]
        data[set_name] = {}
        for f_name, refiners in by_f.items():
            f = create_restorer(f_name)
            with torch.no_grad():
                restored = [f(x) for x in images]
            nyq_f = [float(nyquist_share(r)[0]) for r in restored]
            black_f = [float(black_point(r)[0]) for r in restored]
            entry = {"nyq": nyq_f, "black": black_f}
            if niqe is not None:
                entry["niqe"] = [float(niqe(r.clamp(0, 1), niqe_params)) for r in restored]
            data[set_name][f_name] = {"F": entry}
            niqe_text = f"{statistics.fmean(entry['niqe']):.2f}" if "niqe" in entry else "—"
            lines.append(f"| {set_name} ({len(images)}) | `{f_name}` alone | 1× | — | "
                         f"{statistics.fmean(black_f):.3f} | — | {niqe_text} |")
            for name in refiners:
                refiner = PTGRefiner.from_pretrained(name)
                outs = [refiner.enhance(x, r, precision="fp32") for x, r in zip(images, restored)]
                ratios = [float(nyquist_share(o)[0]) / max(b, 1e-12) for o, b in zip(outs, nyq_f)]
                black = [float(black_point(o)[0]) for o in outs]
                e = {"nyq_ratio": ratios, "black": black}
                if niqe is not None:
                    e["niqe"] = [float(niqe(o.clamp(0, 1), niqe_params)) for o in outs]
                data[set_name][f_name][name] = e
                niqe_text = f"{statistics.fmean(e['niqe']):.2f}" if "niqe" in e else "—"
                lifted = sum(b - bf > BLACK_LIFT for b, bf in zip(black, black_f))
                lines.append(f"| {set_name} ({len(images)}) | `{name}` | {_ratio_text(ratios)} | "
                             f"{sum(r > MAX_NYQUIST_RATIO for r in ratios)} | {statistics.fmean(black):.3f} | "
                             f"{lifted} | {niqe_text} |")
    return lines + [""], data


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-unpaired", action="store_true", help="skip the unpaired real photos")
    ap.add_argument("--cache-dir", default=str(REPO / "runs" / "paper_protocol" / "cache"),
                    help="on-disk cache of F's outputs (shared with paper-protocol)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = list_pretrained()
    by_f: dict[str, list[str]] = {}
    for name in names:
        by_f.setdefault(get_pretrained_config(name).restorer, []).append(name)
    lines = ["# Real pairs: F alone and the shipped refiners on two cameras (REAL)", "",
             "PSNR mean ± s.e. over images; Δ: F+R − F per image, mean ± s.e.; GT-mean: output scaled to the "
             "target's mean luminance first; worse: images where F+R < F in PSNR; luminance, saturation, black "
             "level (1st-percentile luminance) and clipped share (%): output / target means; Nyquist share: the "
             "share of the luminance spectrum at period 2 px, F + R over F per image (mean / max). "
             "**exposure**: the refiner's inference setting (`refiner`: R's own brightness, Eq. 1; `restorer`: "
             "F's mean luminance kept; a number: the output scaled to that mean luminance); ★ marks the setting each "
             "refiner ships with. IAT's LOL weights were trained on all 485 LOL pairs, LOL val included.", "",
             "Generated by `python -m benchmarks real` (benchmarks/real_pairs.py).", ""]
    data: dict = {}
    header = ["| model | PSNR | Δ vs F | SSIM | GT-mean PSNR | worse | luminance | saturation | Nyquist share "
              "F + R / F | black level | clipped % | notes |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for camera in CAMERAS:
        pairs = camera_pairs(camera)
        if pairs is None:
            lines += [f"## {SET_TEXT[camera]}", "", f"Not scored: no LOL pairs in {LOL.name}/ (see "
                      "real_pairs/lol_v1_train/SOURCES.md of the data root).", ""]
            continue
        data[camera] = {}
        for f_name, refiners in by_f.items():
            loaded = {name: PTGRefiner.from_pretrained(name) for name in refiners}
            caches = {name: feature_cache(r, f_name, args.cache_dir) for name, r in loaded.items()}
            first = refiners[0]
            s_f = score(pairs, restorer=loaded[first].restorer, cache=caches[first])
            data[camera][f_name] = {"F": s_f}
            lines += [f"## {SET_TEXT[camera]}, F = {f_name}", "", *header, row(f"{f_name} alone", s_f)]
            for name in refiners:
                cfg = get_pretrained_config(name)
                refiner = loaded[name]
                shipped = refiner.exposure
                seen = saw_camera(cfg.trained_on, camera)
                for mode in MODES if shipped in MODES else (*MODES, shipped):
                    s = score(pairs, refiner=refiner, exposure=mode, cache=caches[name])
                    data[camera][f_name][f"{name}/{mode}"] = s
                    star = " ★" if mode == shipped else ""
                    lines.append(row(f"`{name}`, exposure {mode}{star}", s, verdict_text(seen, s)))
            lines.append("")
    lines += summary(data, by_f)
    lines += leave_one_camera_out(data, by_f)
    if not args.no_unpaired:
        text, data["unpaired"] = unpaired(by_f)
        lines += text
    lines += [f"Versions: {versions()}; code {code_version()}.", ""]
    write_results("real_pairs", lines, data)


if __name__ == "__main__":
    main()
