"""Write the README.md model card of every shipped refiner: real pairs first, then its training data and settings.

The card is generated from data only: the refiner's config.json (F, prior, exposure), its index entry
(src/ptg_refine/pretrained/index.json: what it was trained on, validation, licences), its training record (results/ship_<name>.json) and the real-pair
evaluation (results/real_pairs.json, written by ``python -m benchmarks real``).

Command (after ``python -m benchmarks real``; ``ship`` runs it for the refiner it installs):

    python -m tools.model_card            # every shipped refiner
    python -m tools.model_card sci-none
"""
from __future__ import annotations

import argparse
import json
import statistics

from benchmarks._paths import RESULTS
from benchmarks._runs import REPO
from ptg_refine.exposure import DEFAULT_EXPOSURE
from benchmarks.real_pairs import CAMERAS, MAX_WORSE, MIN_DELTA, MODES, SET_TEXT, passes_cross_camera, saw_camera

PRETRAINED = REPO / "src" / "ptg_refine" / "pretrained"
EXPOSURE_TEXT = {"refiner": "R's own brightness (Eq. 1 as is)", "restorer": "F's mean luminance kept",
                 "scene": "a mean luminance predicted from the input (fitted on real pairs), reached by a tone curve "
                          "that keeps the black level and spares the highlights; a well-exposed input is not "
                          "brightened (benchmarks/results/exposure_policy.md)"}


def exposure_text(exposure) -> str:
    return EXPOSURE_TEXT.get(exposure) or (f"the output scaled to mean luminance {exposure}, that of the training "
                                           "targets")


def _pm(v, d=2) -> str:
    return f"{v[0]:.{d}f} ± {v[1]:.{d}f}"


def real_table(name: str, f_name: str, shipped_exposure: str, real: dict) -> list[str]:
    f = real[f_name]["F"]
    rows = ["| | PSNR (dB) | Δ vs F | SSIM | GT-mean PSNR | worse than F | mean luminance (target {:.3f}) |".format(
        f["lum_target"][0]), "|---|---|---|---|---|---|---|",
        f"| F = `{f_name}` alone | {_pm(f['psnr'])} | — | {f['ssim'][0]:.3f} | {f['gtmean_psnr'][0]:.2f} | — | "
        f"{f['lum'][0]:.3f} |"]
    for mode in MODES if shipped_exposure in MODES else (*MODES, shipped_exposure):
        s = real[f_name].get(f"{name}/{mode}")
        if s is None:
            continue
        star = " (shipped setting)" if mode == shipped_exposure else ""
        rows.append(f"| F + R, exposure `{mode}`{star} | {_pm(s['psnr'])} | {s['delta'][0]:+.2f} ± {s['delta'][1]:.2f} "
                    f"| {s['ssim'][0]:.3f} | {s['gtmean_psnr'][0]:.2f} | {s['worse']} of {s['n']} | "
                    f"{s['lum'][0]:.3f} |")
    return rows


def verdict(name: str, f_name: str, seen: bool, shipped_exposure: str, real: dict, camera: str = "IR-RGB") -> str:
    s = real[f_name].get(f"{name}/{shipped_exposure}")
    if s is None:
        return ""
    d, worse, n = s["delta"][0], s["worse"], s["n"]
    if seen:
        return (f"This refiner was **trained on real pairs of this camera** ({camera} train), so these are "
                f"in-domain figures: {d:+.2f} dB over F alone, worse than F on {worse} of {n} photos. It learnt this "
                "camera's look and F's failures on it. **On photos of another camera it can make F worse**: "
                "use a general-purpose refiner there, or adapt one to your camera "
                f"(`ptg-refine train --init-from {name} ...`, see README).")
    return (f"This refiner **never saw this camera** (no {camera} image in training): a cross-camera test. "
            f"With its shipped exposure setting it is {d:+.2f} dB against F alone and worse than F on {worse} of {n} "
            f"photos: the leave-one-camera-out test (F + R ≥ F {MIN_DELTA:+.1f} dB on average, worse on ≤ "
            f"{MAX_WORSE * 100:.0f} %) is **{'passed' if passes_cross_camera(s) else 'FAILED'}**.")


def card(name: str, real: dict | None) -> str:
    index = json.loads((PRETRAINED / "index.json").read_text())["refiners"]
    entry = index[name]
    config = json.loads((PRETRAINED / name / "config.json").read_text())
    run = json.loads((RESULTS / f"ship_{name}.json").read_text())
    f_name, exposure = config["restorer"], config["exposure"]  # what config.json holds is read from there
    trained_on = entry.get("trained_on") or ["SYNTHETIC pairs (default preset) of 181 clean photos"]
    seen = any(saw_camera(trained_on, camera) for camera in CAMERAS)
    prior = config["prior"]
    prior_text = ("No pre-trained prior (g = 0); README's prior section says what the priors measured."
                  if prior.startswith("none") else f"Prior: the frozen `{prior}` ({config['prior_mode']}).")
    tags = "[image-restoration, low-light-enhancement, ptg-rm" + (", real-pairs" if seen or "init" in run else "") + "]"
    lines = ["---", "library_name: ptg-refine", f"tags: {tags}", "---",
             f"# {name}: PTG-RM refiner R for F = `{f_name}`", "",
             f"Refinement network R ({run['params_R']:,} parameters) of PTG-RM (Xu et al., \"Boosting Image "
             f"Restoration via Priors from Pre-trained Models\", CVPR 2024) around the frozen restorer F = `{f_name}` "
             f"of the ptg-refine zoo. {prior_text} Output brightness at inference: exposure `{exposure}` "
             f"({exposure_text(exposure)}; `enhance(..., exposure=...)` overrides it). "
             "Only R's weights are stored here; F and the prior are rebuilt from `config.json`.", "",
             "```python", "from ptg_refine import PTGRefiner", f"refiner = PTGRefiner.from_pretrained(\"{name}\")",
             "out = refiner.enhance(low)   # (B,3,H,W) in [0,1]", "```", ""]
    for camera in CAMERAS:
        lines += [f"## On real photos: {SET_TEXT[camera]}", ""]
        scores = (real or {}).get(camera, {})
        if f_name in scores and f"{name}/{exposure}" in scores[f_name]:
            lines += [verdict(name, f_name, saw_camera(trained_on, camera), exposure, scores, camera), ""]
            lines += real_table(name, f_name, exposure, scores)
            lines += ["", "PSNR mean ± s.e. over images; Δ: F + R − F per image; GT-mean: the output scaled to the "
                          "target's mean luminance first (exposure separated from restoration). From "
                          "`python -m benchmarks real` (benchmarks/results/real_pairs.md).", ""]
        else:
            lines += ["Not scored yet: run `python -m benchmarks real`.", ""]
    t = run["train"]
    lines += ["## Training data and settings", "",
              "Trained, in this order, on:", ""] + [f"{i + 1}. {s}" for i, s in enumerate(trained_on)] + [""]
    if "init" in run:
        lines.append(f"The last stage started from the shipped refiner `{run['init']}`." if run["init"] in index else
                     f"The last stage started from `{run['init']}`, trained by its committed recipe "
                     f"(`python -m tools.ship {run['init']} --no-ship`; not shipped itself).")
    cmd = (f"python -m tools.ship {name} --work runs/general --threads 1" if "init" in run
           else f"python -m tools.ship {name}")
    if "selected_run" in run:  # the paper's protocol: the best of the paper-protocol runs on LOL val
        lines.append(f"R was trained from its identity initialisation (F frozen) as run `{run['selected_run']}` of "
                     f"`python -m benchmarks paper-protocol` and selected among {len(run['candidates'])} runs "
                     "(seeds and prior conditions) by mean PSNR on LOL val (benchmarks/results/paper_protocol.md).")
        cmd = f"python -m benchmarks paper-protocol` (two workers, see its header), then `{cmd}"
    if exposure != run.get("exposure", DEFAULT_EXPOSURE):
        why = ("the mean luminance of the training targets" if not isinstance(exposure, str) else
               "chosen on real pairs: benchmarks/results/exposure_policy.md")
        lines += [f"The exposure setting `{exposure}` was set after training ({why}): "
                  f"`python -m tools.ship {name} --index-only --exposure {exposure}`.", ""]
    lines += [f"Last stage: {t['iterations']} iterations, batch {t['batch_size']} crops of {t['crop_size']}², AdamW lr "
              f"{t['lr']} cosine, seed {t.get('seed', 0)}; {run['train_seconds']:.0f} s of training steps on "
              f"{run.get('threads', 1)} CPU thread(s) of a shared 2-core machine. Model selection: "
              f"{entry['validation']['data']}.", "", f"Exact command (repository root): `{cmd}`", ""]
    if entry["validation"]["data"].startswith("SYNTHETIC"):
        v = run["val"]
        lines += ["## Synthetic validation (SYNTHETIC pairs: 18 McMaster photos of clean/val, 1 variant, seed 1)", "",
                  "| | PSNR (dB) | SSIM |", "|---|---|---|"]
        for key, label in (("input", "input"), ("F", f"F = {f_name}"), ("F+R", "F + R (this model)")):
            lines.append(f"| {label} | {statistics.mean(v['psnr_' + key]):.2f} | "
                         f"{statistics.mean(v['ssim_' + key]):.4f} |")
        lines += ["", "Synthetic figures do not transfer to real photos by themselves; the real-pair table above is "
                      "the one to read.", ""]
    lic = entry["licence"]
    lines += ["## Licences", "", f"- R: {lic['R']}", f"- F: {lic['F']}", f"- prior: {lic['prior']}", ""]
    return "\n".join(lines)


def load_real() -> dict | None:
    """results/real_pairs.json, or None before ``python -m benchmarks real`` has run."""
    path = RESULTS / "real_pairs.json"
    return json.loads(path.read_text()) if path.is_file() else None


def main():
    ap = argparse.ArgumentParser(description="Write the README.md model card of every shipped refiner (or those named).")
    ap.add_argument("names", nargs="*", help="shipped refiners (default: all in the index)")
    args = ap.parse_args()
    index = json.loads((PRETRAINED / "index.json").read_text())["refiners"]
    real = load_real()
    for name in args.names or list(index):
        if name not in index:
            raise SystemExit(f"model-card: {name!r} is not in {PRETRAINED / 'index.json'} ({', '.join(index)})")
        (PRETRAINED / name / "README.md").write_text(card(name, real))
        print(f"wrote {PRETRAINED / name / 'README.md'}")


if __name__ == "__main__":
    main()
