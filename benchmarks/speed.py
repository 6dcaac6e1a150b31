"""Speed, memory, tiling accuracy, precision and export of the refinement network R.

Command (from the repository root; about 10 min on a 2-core CPU, --quick skips the 4K runs and torch.compile;
``python -m benchmarks speed`` is the same):

    python -m benchmarks speed            # prints and writes benchmarks/results/speed.md
    python -m benchmarks speed --enhance  # only PTGRefiner.enhance, fp32 vs the default precision
                                          # (about 2 min): printed only; speed.md has the same section

Every measurement runs in a fresh subprocess (benchmarks/_speed_workers.py, so peak-memory figures belong to
that workload only) with torch.set_num_threads(2) and OMP_WAIT_POLICY=PASSIVE (the load average is
recorded with the results). Latency: median (and min) over repeats after one warm-up. Peak memory: growth of the
process's peak RSS (VmHWM, reset via /proc/self/clear_refs) over its RSS with the model and input loaded and
the libraries initialised (R: one 64x64 call first), during warm-up and timed runs. MACs:
torch.utils.flop_counter (convolutions, matmuls, einsums; FLOPs / 2) plus k²·C·H·W for the per-position
filter of PTG-CSA. The R measured is the default configuration (width 16, 4 blocks, 512-d
prior: 672,764 parameters) with its zero-initialised output heads replaced by PyTorch's default random init
("trained-looking"; a fresh R returns F exactly and would make every tiling/precision comparison trivial).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks._paths import REPO as ROOT, RESULTS as RESULTS_DIR
RESULTS = RESULTS_DIR / "speed.md"
ENHANCE_TARGET_MS = 45  # the target of enhance() at 600x400 on 2 threads, default path
WORKER = "benchmarks._speed_workers"  # run as a module from ROOT, in a fresh process per measurement
SIZES = [(256, 256), (400, 600), (720, 1280), (1080, 1920)]
SIZE_4K = (2160, 3840)
THREADS = 2


# -- driver -------------------------------------------------------------------------------------------------
def run_worker(job, wait_policy="PASSIVE"):
    load = os.getloadavg()[0]
    env = dict(os.environ, OMP_WAIT_POLICY=wait_policy) if wait_policy else dict(os.environ)
    if not wait_policy:
        env.pop("OMP_WAIT_POLICY", None)
    with tempfile.TemporaryDirectory() as cache:  # torch.compile starts cold (no inductor cache)
        env["TORCHINDUCTOR_CACHE_DIR"] = cache
        proc = subprocess.run([sys.executable, "-m", WORKER, json.dumps(job)], capture_output=True,
                              text=True, cwd=ROOT, env=env)
    if proc.returncode:
        raise RuntimeError(f"worker {job} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["load_before"] = load
    print(f"  {job} -> {res}", flush=True)
    return res


def fit_exponent(points):
    """Least-squares slope of log(time) against log(pixels)."""
    xs = [math.log(p) for p, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return (f"{cpu}, {os.cpu_count()} logical CPUs, "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, Python "
            f"{platform.python_version()}, torch {torch.__version__}, {THREADS} threads, no GPU")


def enhance_section() -> list[str]:
    """PTGRefiner.enhance end to end (F, G, R, clamping) of the shipped refiners: precision "fp32" against the
    default ("auto"), interleaved in one process, 2 threads, OMP_WAIT_POLICY=PASSIVE (the CLI's default); one row
    with OpenMP's spinning wait."""
    from ptg_refine._pretrained import default_pretrained

    print("enhance: fp32 vs the default precision")
    default = default_pretrained()  # the refiner of `ptg-refine enhance` without --refiner
    res = {name: run_worker({"kind": "enhance", "refiner": name, "reps": 21, "scales": scales})
           for name, scales in ((default, [0.5, 1.0, 2.0]), ("iat-lol", [1.0]))}
    spin = run_worker({"kind": "enhance", "refiner": default, "reps": 21}, wait_policy=None)
    first = next(iter(res.values()))
    lines = ["## PTGRefiner.enhance: float32 vs the default precision\n",
             f"`refiner.enhance(x)` of the shipped refiners on the bundled LOL photo examples_data/lol_1.png (600x400; "
             f"{default}, the default refiner, also on 300x200 and 1200x800 resized copies), 2 threads. The default `precision=\"auto\"` is "
             f"**{first['auto_is']}** on this CPU (native bfloat16: {first['native_bf16']})"
             + (": R under bfloat16 autocast with R_e and the output heads in float32; F and G in float32."
                if first["auto_is"] == "bf16" else
                ": without bfloat16 instructions the default path is float32, so both columns time the same "
                "computation (their ratio shows the noise of the measurement).")
             + " Both paths are timed in one process, alternating, so they see the same load. Cells: median ms "
             "(min ms) over 21 calls after one warm-up.\n",
             "| refiner | size | fp32 | default | default / fp32 | max abs diff | values within 1/255 |",
             "|---|---|---|---|---|---|---|"]
    for name, r in res.items():
        for row in r["rows"]:
            (h, w), med, mn = row["size"], row["median_ms"], row["min_ms"]
            lines.append(f"| {name} | {w}x{h} | {med['fp32']:.0f} ({mn['fp32']:.0f}) | {med['auto']:.0f} "
                         f"({mn['auto']:.0f}) | {row['ratio_auto_fp32']:.2f} | {row['max_abs']:.1e} | "
                         f"{100 * row['within_1_255']:.3f} % |")
    loads = [r["load_before"] for r in (*res.values(), spin)]
    by_size = {tuple(row["size"]): row for row in res[default]["rows"]}
    px = {s: s[0] * s[1] for s in by_size}
    exps = {p: fit_exponent([(px[s], by_size[s]["median_ms"][p]) for s in by_size]) for p in ("fp32", "auto")}
    target = by_size[(400, 600)]["median_ms"]["auto"]
    s_row = spin["rows"][0]
    lines.append(f"\nTime ∝ pixels^e ({default}, medians over the three sizes): e = {exps['fp32']:.2f} (fp32), "
                 f"{exps['auto']:.2f} (default). With OpenMP's default spinning wait instead of PASSIVE, {default} at "
                 f"600x400: fp32 {s_row['median_ms']['fp32']:.0f} ms, default {s_row['median_ms']['auto']:.0f} ms "
                 f"(load {spin['load_before']:.1f}). Load average (1 min) before each measurement: {min(loads):.1f} to "
                 f"{max(loads):.1f} on 2 cores: above 2, the medians include waiting for the CPU and the ratio is "
                 "the figure to compare.\n")
    verdict = "met" if target <= ENHANCE_TARGET_MS else "missed"
    lines.append(f"**Target**: `enhance()` at 600x400 on 2 threads <= {ENHANCE_TARGET_MS} ms median: "
                 f"measured {target:.0f} ms ({default}, default path; {verdict} on this machine at this load).\n")
    return lines


def main_enhance():
    from benchmarks._runs import code_version  # imports the library: not at module level (workers stay light)

    load0 = os.getloadavg()[0]
    lines = ["# Speed of PTGRefiner.enhance: float32 vs the default precision\n",
             f"Command: `python -m benchmarks speed --enhance` ({time.strftime('%Y-%m-%d %H:%M')}, commit "
             f"{code_version()}). Machine: {machine()}. Load average {load0:.1f} at the start.\n",
             *enhance_section()]
    print("\n".join(lines))  # a quick look only: the committed figures are speed.md's section of the full run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip the 4K runs and torch.compile")
    ap.add_argument("--enhance", action="store_true", help="only PTGRefiner.enhance, fp32 vs the default precision "
                                                           "(printed, not written: speed.md has this section)")
    args = ap.parse_args()
    if args.enhance:
        return main_enhance()
    from ptg_refine import RefinementNetwork

    t0, load0 = time.time(), os.getloadavg()
    lines = [f"# Speed, memory, tiling, precision and export of R\n",
             f"Command: `python -m benchmarks speed{' --quick' if args.quick else ''}` "
             f"({time.strftime('%Y-%m-%d %H:%M')}). Machine: {machine()}.\n",
             f"**Load**: load average {load0[0]:.1f} at the start (per-measurement values below; above the "
             "thread count, latencies include waiting for the CPU and are upper bounds, the minimum over repeats "
             "being the closest to an idle machine). All "
             "measurements run with `OMP_WAIT_POLICY=PASSIVE`: with OpenMP's default spinning wait, a thread "
             "waiting at a barrier holds the core its partner needs, which on a loaded CPU stalls every "
             "parallel region (one comparison row below; its effect depends on the load at that moment).\n"]
    params = sum(p.numel() for p in RefinementNetwork().parameters())

    print("latency / memory")
    components = ["R", "F:sci", "F:iat", "G:efficientnet_lite0", "G:clip"]
    table = {}
    for comp in components:
        for size in SIZES:
            reps = {256: 21, 400: 15, 720: 5, 1080: 3}[size[0]]
            table[comp, size] = run_worker({"kind": "latency", "component": comp, "size": size, "reps": reps})
        if not args.quick:  # one timed run (R: after a MAC-counting warm-up); F tiled, priors whole
            table[comp, SIZE_4K] = run_worker({"kind": "latency", "component": comp, "size": SIZE_4K, "reps": 1,
                                               "tiled": not comp.startswith("G"), "warmup": False})
    r1 = run_worker({"kind": "latency", "component": "R", "size": (400, 600), "reps": 15, "threads": 1})
    r_spin = run_worker({"kind": "latency", "component": "R", "size": (400, 600), "reps": 15}, wait_policy=None)

    sizes = SIZES + ([SIZE_4K] if not args.quick else [])
    head = " | ".join(f"{w}x{h}" + (" tiled" if (h, w) == SIZE_4K else "") for h, w in sizes)
    lines.append("## Latency and peak memory, 2 threads\n")
    lines.append("Cells: median ms (min ms) / peak RSS growth MiB. Exponent from medians (from minima).\n")
    lines.append(f"| component | {head} | time ∝ pixels^e |")
    lines.append("|---|" + "---|" * len(sizes) + "---|")
    exps, loads = {}, []
    for comp in components:
        cells = []
        for size in sizes:
            r = table.get((comp, size))
            cells.append(f"{r['median_ms']:.0f} ({r['min_ms']:.0f}) / {r['peak_extra_mib']:.0f}" if r else "-")
        exps[comp] = fit_exponent([(h * w, table[comp, (h, w)]["median_ms"]) for h, w in SIZES])
        exps[comp, "min"] = fit_exponent([(h * w, table[comp, (h, w)]["min_ms"]) for h, w in SIZES])
        loads.extend(table[comp, s]["load_before"] for s in sizes if (comp, s) in table)
        label = {"R": "R (refinement net)", "F:sci": "F = SCI", "F:iat": "F = IAT",
                 "G:efficientnet_lite0": "G = EfficientNet-Lite0 (real weights)",
                 "G:clip": "G = CLIP ViT-B-32 (random weights, same compute)"}[comp]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {exps[comp]:.2f} ({exps[comp, 'min']:.2f}) |")
    lines.append("\nThe exponent e is the least-squares slope of log(time) on log(pixels) over the four untiled "
                 "sizes. 'tiled' = 512-pixel tiles with 32-pixel overlap: R with exact whole-image statistics "
                 "(ptg_refine.tiling, as enhance(tile=512)), F tile by tile (as tile_restorer=True; for IAT this "
                 "changes its output: its global branch sees each tile alone; whole-image IAT at 4K needs several "
                 "GiB). Priors always see the whole image (they resize to 224x224, hence their flat cost).\n")
    lines.append(f"Load average (1 min) before each measurement: {min(loads):.1f} to {max(loads):.1f} on 2 cores. "
                 f"R at 600x400 with 1 thread: {r1['median_ms']:.0f} ms median (min {r1['min_ms']:.0f} ms). "
                 f"With OpenMP's default (spinning) wait policy instead of OMP_WAIT_POLICY=PASSIVE, R at 600x400 on "
                 f"2 threads took {r_spin['median_ms']:.0f} ms median (min {r_spin['min_ms']:.0f} ms; load "
                 f"{r_spin['load_before']:.1f}).\n")

    lines.append("## R: parameters and multiply-accumulates\n")
    lines.append(f"Parameters: {params:,} (default configuration, 512-d prior).\n")
    lines.append("| input | MACs | MACs / pixel |")
    lines.append("|---|---|---|")
    for size in sizes:
        r = table[("R", size)]
        px = size[0] * size[1]
        lines.append(f"| {size[1]}x{size[0]}{' tiled (executed, incl. context and statistics passes)' if size == SIZE_4K else ''} "
                     f"| {r['macs'] / 1e9:.2f} G | {r['macs'] / px:,.0f} |")
    lines.append("\nThe prior channels of R_m's and R_p's first convolutions are constant maps and are folded into a "
                 "k²-tap term (modules/prior_embedding.py: conv_with_broadcast); counted as executed.\n")

    target = table[("R", (400, 600))]["median_ms"]
    lines.append(f"**Targets**: R at 600x400 <= 150 ms on 2 threads: measured {target:.0f} ms "
                 f"({'met' if target <= 150 else 'missed'}); exponent <= 1.1: measured {exps['R']:.2f} "
                 f"({'met' if exps['R'] <= 1.1 else 'missed'}).\n")

    print("tiling accuracy")
    tiling = run_worker({"kind": "tiling"})
    lines.append("## Tiled vs untiled R at 1024x1024\n")
    lines.append("Crop of a real 1080p low-light photo (zerodcepp_real/126_0_.png), F = SCI, G = EfficientNet-Lite0, "
                 f"trained-looking R (changes F's output by {tiling['mean_change_by_R']:.3f} on average); "
                 "tile 512, overlap 32.\n")
    lines.append("| mode | max abs diff | PSNR vs untiled (dB) | time (s) |")
    lines.append("|---|---|---|---|")
    for row in tiling["rows"]:
        lines.append(f"| {row['mode']} | {row.get('max_abs', 0):.2e} | "
                     f"{row.get('psnr', float('inf')):.1f} | {row['seconds']:.1f} |")
    lines.append("")

    if not args.quick:
        print("4K RSS")
        lines.append("## 3840x2160 end to end: peak RSS of the whole process\n")
        lines.append("`PTGRefiner(restorer='sci', prior=...).enhance(x, tile=512, overlap=32)` on the 4K photo "
                     "zerodcepp_real/512_0_.png, in a fresh process: RSS after `import torch`, after building "
                     "the refiner (F, G, R), after loading the image (float32, 95 MiB; F's output and the "
                     "result add 95 MiB each), and the peak (ru_maxrss). Target: peak <= 2048 MiB.\n")
        lines.append("CLIP: only the image tower is built. 'from file' loads it from a full open_clip ViT-B-32 "
                     "checkpoint (both towers, random values, safetensors) the way real weights load; 'random "
                     "init' builds it without weights.\n")
        lines.append("| prior | F | torch (MiB) | + model | + image | peak RSS (MiB) | time (s) |")
        lines.append("|---|---|---|---|---|---|---|")
        with tempfile.TemporaryDirectory() as tmp:
            clip_file = str(Path(tmp) / "open_clip_model.safetensors")
            run_worker({"kind": "clip_checkpoint", "path": clip_file})
            for prior, weights, label in (("efficientnet_lite0", None, "efficientnet_lite0"),
                                          ("clip", clip_file, "clip (from file)"),
                                          ("clip", None, "clip (random init)")):
                for tile_restorer in (False, True):
                    r = run_worker({"kind": "rss4k", "prior": prior, "prior_weights": weights,
                                    "tile_restorer": tile_restorer})
                    lines.append(f"| {label} | {'tiled' if tile_restorer else 'whole image'} | "
                                 f"{r['rss_torch']:.0f} | {r['rss_model']:.0f} | {r['rss_image']:.0f} | "
                                 f"{r['peak_rss_mib']:.0f} | {r['seconds']:.0f} |")
        lines.append("")

    print("precision")
    prec = run_worker({"kind": "precision"})
    lines.append("## Reduced precision (CPU autocast) and subnormals\n")
    lines.append(f"Real 600x400 photo (lol_eval15_low/1.png), trained-looking R (mean change of F's output "
                 f"{prec['mean_change_by_R']:.3f}).\n")
    lines.append("| autocast dtype | max abs diff vs float32 | mean abs diff | PSNR vs float32 (dB) |")
    lines.append("|---|---|---|---|")
    for name in ("bfloat16", "float16"):
        p = prec[name]
        lines.append(f"| {name} | {p['max']:.2e} | {p['mean']:.2e} | {p['psnr']:.1f} |")
    lines.append(f"\nAll-black / all-white inputs give finite outputs: {prec['finite']}.\n")
    lines.append(f"Subnormal floats (nonzero, |x| < finfo(float32).tiny): weights {prec['weights']['subnormal']} of "
                 f"{prec['weights']['values']:,}; activations (every float32 tensor produced by a torch function "
                 f"during one forward) {prec['activations']['subnormal']} of {prec['activations']['values']:,}.\n")

    lines.extend(enhance_section())

    print("onnx")
    onnx = run_worker({"kind": "onnx"})
    lines.append("## ONNX export\n")
    lines.append(f"export_onnx(R) at 64x64 took {onnx['export_s']:.0f} s; onnxruntime on the real 600x400 photo "
                 f"(a size other than the export size): max abs diff {onnx['max_abs']:.1e} vs PyTorch, "
                 f"{onnx['ort_ms_600x400']:.0f} ms median with 2 threads.\n")
    if not args.quick:
        print("compile")
        comp = run_worker({"kind": "compile"})
        lines.append("## torch.compile(dynamic=True), inductor\n")
        for s in comp["shapes"]:
            lines.append(f"- {s['size'][1]}x{s['size'][0]}: first call {s['first_call_s']:.0f} s, max abs diff vs "
                         f"eager {s['max_abs_vs_eager']:.1e}")
        lines.append(f"- 600x400 median: compiled {comp['compiled_ms_600x400']:.0f} ms, eager "
                     f"{comp['eager_ms_600x400']:.0f} ms\n")
        total = sum(s["first_call_s"] for s in comp["shapes"])
        lines.append(f"Compiling (cold cache, both sizes; the second size recompiles once because of a size "
                     f"guard inside torch's convolution shape function) took {total:.0f} s here, against a 60 s "
                     "budget per test, so the test suite checks only that "
                     "dynamo captures R as one dynamic graph (tests/test_export.py, backend 'eager'); this is "
                     "the inductor check.\n")
    lines.append(f"Total benchmark time {(time.time() - t0) / 60:.0f} min; load average at the end "
                 f"{os.getloadavg()[0]:.1f}.\n")
    text = "\n".join(lines)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
