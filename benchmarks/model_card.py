"""Write the README.md model card of a shipped refiner from its training history and a fresh evaluation.

Command (run by benchmarks/train_ship.py after training):
    python benchmarks/model_card.py --refiner src/ptg_refine/pretrained/<name> --history RUN/history.json \
        --eval EVAL/metrics.json --command "python benchmarks/train_ship.py <name>"
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

TEMPLATE = """---
library_name: ptg-refine
tags: [image-restoration, low-light-enhancement, ptg-rm, synthetic-data]
---
# {name}: PTG-RM refiner R for `{restorer}`, {prior_title}

Refinement network R ({params:,} parameters) of PTG-RM (Xu et al., "Boosting Image Restoration via Priors from
Pre-trained Models", CVPR 2024) for the frozen restorer F = `{restorer}` of the ptg-refine zoo. {prior_text}
Only R's weights are stored here; F and the prior are rebuilt from `config.json`:

```python
from ptg_refine import PTGRefiner
refiner = PTGRefiner.from_pretrained("{name}")
out = refiner.enhance(low)   # (B,3,H,W) in [0,1]
```

## Training (SYNTHETIC data only)
Data: **synthetic** low-light pairs made by `ptg-refine synth` (camera-like degradation: sRGB->linear, exposure
x0.03-0.3, mild colour cast, Poisson-Gaussian noise, sRGB, 8-bit) from the 181 clean photos of
`clean/train` of the data root (CBSD68, Sun-Hays80, Val20, Set14, Set5), {variants} variants per photo, long
side <= 512. No real paired low-light data was used. Settings: {cfg}. Training steps took {secs:.0f} s on a
2-core CPU (1 thread).

Exact command (from the repository root, with ptg-refine installed in the active environment): `{command}`

## Validation (SYNTHETIC pairs: 18 McMaster photos of clean/val, 1 variant, seed 1)
Protocol: RGB, [0,1], piq PSNR, pytorch_msssim SSIM (11x11 Gaussian, sigma 1.5); mean ± s.e. over images.

| | PSNR (dB) | SSIM |
|---|---|---|
| input | {pi} | {si} |
| F = {restorer} | {pf} | {sf} |
| F + R (this model) | {pr} | {sr} |

Real low-light photos have not been scored (no ground truth available); synthetic numbers need not transfer.
How much of the gain is due to the prior: see the same-budget ablation (no prior vs random vs pretrained Lite0)
in benchmarks/results/quality.md and benchmarks/results/prior_calibration.md.
Training photos are research-only sets (see the data root's README.md); F's weights keep their own licence.
Real low-light photos: colour and tone statistics of F and F+R in benchmarks/results/real_photo_stats.md.
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--refiner", required=True)
    ap.add_argument("--history", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--variants", type=int, default=2)
    args = ap.parse_args()
    folder = Path(args.refiner)
    config = json.loads((folder / "config.json").read_text())
    hist = json.loads(Path(args.history).read_text())
    ev = json.loads(Path(args.eval).read_text())
    m, se = ev["mean"], ev["se"]

    def cell(k, d):
        return f"{m[k]:.{d}f} ± {se[k]:.{d}f}"

    from safetensors.torch import load_file
    params = sum(v.numel() for v in load_file(str(folder / "model.safetensors")).values())
    c = hist["config"]
    cfg = (f"{c['iterations']} iterations x {c['batch_size']} crops {c['crop_size']}x{c['crop_size']}, AdamW lr "
           f"{c['lr']} (cosine to {c['min_lr']}), weight decay {c['weight_decay']}, Charbonnier + {c['ssim_weight']}"
           f"(1-SSIM), flips, seed {c['seed']}")
    mode = config.get("prior_mode", "global")
    prior = config.get("prior") or "a custom prior"
    if prior.startswith("none"):
        title, text_ = "no prior", "No pre-trained prior: g = 0 (the prior ablation of PTG-RM)."
    elif mode == "dense":
        title = f"dense `{prior}` feature maps"
        text_ = (f"The frozen `{prior}` prior enters R as dense multi-scale feature maps (strides 8/16/32) by spatial "
                 "feature transform (prior_mode='dense', SKF-style); the pooled vector g is not used.")
    else:
        title = f"the `{prior}` prior ({mode})"
        text_ = f"The frozen `{prior}` prior enters R as {mode} features (projected to {config.get('prior_proj_dim')}-d)."
    text = TEMPLATE.format(name=folder.name, restorer=config["restorer"], params=params,
                           prior_title=title, prior_text=text_, variants=args.variants, cfg=cfg,
                           secs=hist["summary"]["train_seconds"], command=args.command,
                           pi=cell("psnr_input", 2), si=cell("ssim_input", 4), pf=cell("psnr_F", 2),
                           sf=cell("ssim_F", 4), pr=cell("psnr_F+R", 2), sr=cell("ssim_F+R", 4))
    (folder / "README.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
