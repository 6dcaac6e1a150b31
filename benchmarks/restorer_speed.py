"""CPU latency of the frozen baseline restorers at 600x400 (H=400, W=600), batch 1, 2 threads.

Command (from the repository root; writes benchmarks/results/restorer_speed.md):

    python -m benchmarks restorers

Options: ``--shared PATH`` (default: the parent of the data root $PTG_DATA_DIR, i.e. ``../shared`` beside
the repo) supplies the CC BY-NC weights (Zero-DCE, Zero-DCE++) and the as-loaded checkpoints; ``--repeats N``
(default 7). The input photo comes from the data root (``<shared>/data`` when --shared is given).
For each restorer: median (and min) over N timed runs after one warm-up, with subnormal weights zeroed
(what ``create_restorer`` returns) and, interleaved with it, "as loaded" (the authors' checkpoint
unchanged, subnormals kept); a model whose warm-up takes more than 3 s is timed once.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from benchmarks._paths import DATA, REPO, RESULTS, SHARED
from ptg_refine.data import read_image
from ptg_refine.restorers import count_subnormals, create_restorer, get_restorer_config
from ptg_refine.restorers._common import read_state_dict

NAMES = ["identity", "gamma", "zero_dce", "zero_dce_pp", "sgz", "sci", "iat"]
COMMAND = "python -m benchmarks restorers"


def timed(models: dict[str, torch.nn.Module], x: torch.Tensor, repeats: int) -> dict[str, str]:
    """Latency per model as "median (min)" in ms. Runs are interleaved so that load bursts from other
    processes on this shared machine hit all models alike; a model whose warm-up took > 3 s is timed once.
    """
    runs: dict[str, list[float]] = {k: [] for k in models}
    with torch.inference_mode():
        warm = {}
        for k, m in models.items():
            t0 = time.perf_counter()
            m(x)
            warm[k] = time.perf_counter() - t0
        for i in range(repeats):
            for k, m in models.items():
                if i and warm[k] > 3:
                    continue
                t0 = time.perf_counter()
                m(x)
                runs[k].append(1000 * (time.perf_counter() - t0))
    return {
        k: f"{statistics.median(v):,.1f} ({min(v):,.1f})" + ("" if len(v) == repeats else f" n={len(v)}")
        for k, v in runs.items()
    }


def as_loaded(name: str, shared: Path):
    """The network with the authors' checkpoint exactly as stored (no subnormal flushing)."""
    cfg = get_restorer_config(name)
    model = cfg.builder()
    model.load_state_dict(model.convert_state_dict(read_state_dict(shared / "weights" / cfg.original)))
    return model.eval()


def cpu_model() -> str:
    """CPU description from /proc/cpuinfo (model name, vendor, family/model, clock, AVX-512)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    info = dict(ln.split(":", 1) for ln in text.split("\n\n")[0].splitlines() if ":" in ln)
    info = {k.strip(): v.strip() for k, v in info.items()}
    avx512 = ", AVX-512" if "avx512f" in info.get("flags", "").split() else ""
    return (f"{info.get('model name', '?')} ({info.get('vendor_id', '?')} family {info.get('cpu family', '?')} "
            f"model {info.get('model', '?')}, {float(info.get('cpu MHz', 0)):.0f} MHz{avx512})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS / "restorer_speed.md")
    args = parser.parse_args()
    torch.set_num_threads(2)

    data = DATA if args.shared == SHARED else args.shared / "data"  # the data root
    image = data / "real_lowlight" / "lol_eval15_low" / "1.png"
    if image.is_file():
        x = read_image(image)[None]
        source = f"LOL-v1 eval15 low `1.png` (`real_lowlight/lol_eval15_low/1.png` of the data root)"
    else:
        x = torch.rand(1, 3, 400, 600, generator=torch.Generator().manual_seed(0)) * 0.2
        source = "random dark image (shared data absent)"
    assert x.shape == (1, 3, 400, 600)

    rows = []
    for name in NAMES:
        cfg = get_restorer_config(name)
        label = {"sci": "sci (medium)", "iat": "iat (lol_v1)"}.get(name, name)
        weights = "none" if not cfg.needs_weights else ("bundled" if cfg.bundled else "user file")
        if cfg.needs_weights and not cfg.bundled and not args.shared.is_dir():
            rows.append([label, f"{cfg.params:,}", cfg.licence, weights, "-", "-", "skipped: weights absent"])
            continue
        path = None if cfg.bundled or not cfg.needs_weights else args.shared / "weights" / cfg.original
        models = {"zeroed": create_restorer(name, weights=path)}
        note = ""
        if cfg.original and args.shared.is_dir():
            raw = as_loaded(name, args.shared)
            k = count_subnormals(raw)
            if k:
                models["raw"] = raw
            note = f"{k:,} subnormal weights"
        ms = timed(models, x, args.repeats)
        if name in ("zero_dce_pp", "sgz"):
            note += "; padded 400->408 rows (multiple of 12)"
        row = [label, f"{cfg.params:,}", cfg.licence, weights, ms["zeroed"], ms.get("raw", "-"), note.strip("; ")]
        rows.append(row)
        print(" | ".join(rows[-1]), flush=True)

    header = ["restorer", "params", "weights licence", "weights", "ms, subnormals zeroed", "ms, as loaded", "notes"]
    lines = [header, ["---"] * len(header), *rows]
    table = "\n".join("| " + " | ".join(r) + " |" for r in lines)
    load = os.getloadavg()
    report = f"""# Restorer CPU latency at 600x400

Command: `{COMMAND}` (from the repository root).

Machine: {cpu_model()}, {os.cpu_count()} logical CPUs, `torch.set_num_threads(2)`;
torch {torch.__version__}, Python {platform.python_version()}. Load average at the end of the run:
{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min); a load above the thread count means other work
ran beside it (the min is then the less disturbed figure).

Input: {source}, 1x3x400x600 float32, batch 1, `torch.inference_mode()`. Cells: median (min) in ms of
{args.repeats} timed runs after one warm-up, the two variants of a network interleaved; "n=1" marks a
single timed run (warm-up over 3 s). "as loaded" = the authors' checkpoint unchanged, i.e. with its
subnormal float32 weights (slow microcode path on many x86 CPUs; the specs measured 4-26x slowdowns on
an Intel Xeon); `create_restorer` zeroes them (outputs unchanged within 1e-6 on the reference crops).

{table}
"""
    print("\n" + table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
