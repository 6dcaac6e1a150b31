"""SHA-256 digests of refiner outputs on the bundled example photos, to prove a refactor changes no output.

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks digests --compare benchmarks/results/output_digests.json

Covers every shipped refiner (whole image, tiled, tiled with F tiled), a trained-looking R with a random
dense+global Lite0 prior (whole and tiled), a batch of crops at given positions (the training path) and
the PNG files of ``ptg-refine enhance --examples``. Run it after a change with ``--compare`` the committed file
(written before the change): every digest must be equal (bit-exact outputs); the command fails otherwise and
records the comparison in the new file. The digests pin the float32 path (``precision="fp32"``,
``--precision fp32``): the bfloat16 default of ``enhance`` on CPUs with native bfloat16 depends on the CPU's
kernels, and is checked against float32 by tests/test_inference_precision.py instead.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from ptg_refine import PTGRefiner, list_pretrained
from ptg_refine.data import read_image
from ptg_refine.testing import trained_looking

from benchmarks._paths import RESULTS
from benchmarks._runs import code_version, versions

EXAMPLES = Path(__import__("ptg_refine").__file__).parent / "examples_data"


def digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().contiguous().cpu().numpy().tobytes()).hexdigest()[:16]


@torch.no_grad()
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(RESULTS / "output_digests.json"))
    ap.add_argument("--compare", default=None, help="digests file of the code before the change (read first)")
    args = ap.parse_args(argv)
    before = json.loads(Path(args.compare).read_text()) if args.compare else None
    torch.set_num_threads(1)
    photos = sorted(EXAMPLES.glob("*.png"))
    images = {p.name: read_image(p)[None] for p in photos}
    out = {}
    for name in list_pretrained():
        refiner = PTGRefiner.from_pretrained(name)
        for photo, x in images.items():
            out[f"{name}/{photo}/whole"] = digest(refiner.enhance(x, precision="fp32"))
            out[f"{name}/{photo}/tile128"] = digest(refiner.enhance(x, tile=128, precision="fp32"))
            out[f"{name}/{photo}/tile128-F"] = digest(refiner.enhance(x, tile=128, tile_restorer=True,
                                                                      precision="fp32"))
    torch.manual_seed(0)  # R's weights below the re-drawn heads come from the global generator
    refiner = PTGRefiner(restorer="sci", prior="efficientnet_lite0", prior_pretrained=None, prior_seed=0,
                         prior_mode="global+dense")
    refiner.net.load_state_dict(trained_looking(refiner.net, seed=1).state_dict())
    refiner.eval()
    for photo, x in images.items():
        out[f"dense-rand/{photo}/whole"] = digest(refiner.enhance(x, precision="fp32"))
        out[f"dense-rand/{photo}/tile128"] = digest(refiner.enhance(x, tile=128, precision="fp32"))
    # the training path: crops of one photo at their positions in it, through R as a batch
    x = next(iter(images.values()))
    restored = refiner.restore(x)
    g = refiner.prior_features(x)
    dense = refiner.dense_features(x)
    h, w = x.shape[-2:]
    crops = [(0, 0), (64, 32), (100, 200)]
    lows = torch.cat([x[..., t:t + 96, l:l + 96] for t, l in crops])
    res = torch.cat([restored[..., t:t + 96, l:l + 96] for t, l in crops])
    positions = [(t, l, h, w) for t, l in crops]
    per_crop = torch.cat([refiner.net(lows[i:i + 1], res[i:i + 1], g, position=p, dense=dense)
                          for i, p in enumerate(positions)])
    out["crops/per-crop"] = digest(per_crop)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "ptg_refine.cli", "enhance", "--examples", "-o", tmp, "--side-by-side",
                        "--precision", "fp32"],
                       check=True, capture_output=True)
        for f in sorted(Path(tmp).rglob("*.png")):
            out[f"cli/{f.relative_to(tmp)}"] = hashlib.sha256(f.read_bytes()).hexdigest()[:16]
    record = {"commit": code_version(), "versions": versions(),
              "command": "python -m benchmarks digests" + (f" --compare {args.compare}" if args.compare else ""),
              "digests": out}
    changed = []
    if before is not None:
        old = before["digests"]
        changed = sorted(k for k in out.keys() | old.keys() if out.get(k) != old.get(k))
        record["compared_with"] = {"commit": before["commit"], "equal": sum(old.get(k) == v for k, v in out.items()),
                                   "of": len(out), "changed": sorted(k for k in changed if k in out and k in old),
                                   "new": sorted(k for k in changed if k not in old),
                                   "removed": sorted(k for k in changed if k not in out)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(f"{len(out)} digests -> {args.out}")
    if changed:
        print(f"{len(changed)} of {len(out)} digests differ from {args.compare}: {', '.join(changed)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    main()
