"""Speed and memory of a new refiner against today's R, in the same run (issue 26, item 4): enhance, peak memory, training step.

Command (from the repository root; the defaults: the library's default refiner as "new", the paper-sized R of the
refiners shipped before issue 26 as the baseline, built here):

    python -m benchmarks speed-fast-r                       # writes benchmarks/results/speed_fast_r.md (+ .json)
    python -m benchmarks speed-fast-r --new sci-lol --baseline OLD_FOLDER
    python -m benchmarks speed-fast-r --quick               # a few minutes, printed only: fewer repeats, no
                                                            # 4000x3000 / 8000x6000

``--new`` / ``--baseline``: a shipped refiner's name (``list_pretrained()``), a folder saved by
``save_pretrained``, or ``built:<arch>`` for an R of benchmarks/fast_r.py ``ARCHS`` (``built:today``, ``built:fast``,
``built:light``, ...; writes results/speed_fast_r_<arch>.md beside the fast R's speed_fast_r.md): F = SCI, prior
none, R with random "trained-looking" output heads; today's R: the paper's sizes with the prior layers as shipped
before issue 26; fast: benchmarks/fast_r.py ``FAST``). Timing does not depend on the weights, so a built R stands
for a trained one of the same configuration (the precision agreement does depend on them: measure the shipped file).

1. ``enhance()`` of both refiners at 300x200, 600x400, 1200x800 and 4000x3000 (the bundled LOL photo resized),
   float32 and the default precision, the four runs interleaved in ONE process (2 threads, OMP_WAIT_POLICY=PASSIVE)
   so that the ratio new / baseline is taken under the same load: median over repeats (and the median of the
   per-repeat ratios); time ∝ pixels^e; the default path against the same refiner's float32 output.
2. Peak memory of ``ptg-refine enhance --tile 512`` (cli.enhance_image) at 3840x2160 and 8000x6000 (there also
   with ``--tile-restorer``: F tile by tile), each in a fresh process: growth of VmHWM over the RSS with the
   refiner and the image loaded, and the process's peak.
3. Training step time (benchmarks/train_step_time.py's batch: 8 crops of 96²), 1 and 2 threads, steps of the two
   refiners interleaved in one process.

Targets (issue 26): new at 600x400 <= 45 ms (default precision, median), <= 0.5x the baseline in the same run,
its default path within 1/255 of its float32 output on >= 99.9 % of values, 8000x6000 tiled <= 3 GiB.
"""
from __future__ import annotations

import argparse
import os
import time

from benchmarks.speed import fit_exponent, machine, run_worker

ENHANCE_TARGET_MS, RATIO_TARGET, WITHIN_TARGET, MEMORY_TARGET_GIB = 45, 0.5, 0.999, 3
# ((h, w), repeats, warm-up rounds): full run / --quick
SIZES = [((200, 300), 21, 1), ((400, 600), 21, 1), ((800, 1200), 7, 1), ((3000, 4000), 3, 0)]
QUICK_SIZES = [((200, 300), 5, 1), ((400, 600), 5, 1), ((800, 1200), 2, 1)]
# ((h, w), tile, --tile-restorer): R tile by tile as the issue asks, and F tiled too (F's share of the peak)
MEMORY = [((2160, 3840), 512, False), ((6000, 8000), 512, False), ((6000, 8000), 512, True)]
QUICK_MEMORY = [((2160, 3840), 512, False)]
STEPS, QUICK_STEPS = 10, 3
THREADS_TRAIN = (1, 2)
TARGET_SIZE = (400, 600)


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def measure(new: str, baseline: str, quick: bool) -> dict:
    refiners = {"new": new, "baseline": baseline}
    print("enhance: new vs baseline, fp32 and the default precision, interleaved")
    enhance = run_worker({"kind": "enhance_ab", "refiners": refiners,
                          "sizes": QUICK_SIZES if quick else SIZES})
    print("peak memory of enhance --tile 512")
    memory = [{"role": role, "size": size, "tile": tile, "tile_restorer": tr,
               **run_worker({"kind": "enhance_peak", "refiner": spec, "size": size, "tile": tile, "tile_restorer": tr})}
              for size, tile, tr in (QUICK_MEMORY if quick else MEMORY) for role, spec in refiners.items()]
    print("training step")
    train = [run_worker({"kind": "train_step", "refiners": refiners, "threads": n,
                         "steps": QUICK_STEPS if quick else STEPS}) for n in THREADS_TRAIN]
    return {"enhance": enhance, "memory": memory, "train": train}


def report(res: dict, new: str, baseline: str, command: str, header: str) -> list[str]:
    enh = res["enhance"]
    rows = {tuple(r["size"]): r for r in enh["rows"]}
    lines = ["# Speed and memory: new refiner vs today's R (issue 26)\n",
             f"Command: `{command}`. {header}\n",
             f"New: `{new}` (R: {enh['params']['new']:,} parameters); baseline: `{baseline}` "
             f"(R: {enh['params']['baseline']:,} parameters). The default precision is **{enh['auto_is']}** on this "
             f"CPU (native bfloat16: {enh['native_bf16']}).\n",
             "## enhance(), 2 threads\n",
             "The bundled LOL photo (600x400) resized; both refiners, float32 and the default precision, interleaved in "
             "one process (order rotated every repeat). Cells: median ms (min ms); ratio: median over repeats of "
             "new / baseline, each repeat's pair timed back to back.\n",
             "| size | repeats | new fp32 | new default | baseline fp32 | baseline default | new / baseline fp32 | "
             "new / baseline default | new: default vs fp32, max abs / within 1/255 | baseline: same |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def cell(r, key):
        return f"{r['median_ms'][key]:.0f} ({r['min_ms'][key]:.0f})"

    for (h, w), r in rows.items():
        agree = {role: f"{r[f'{role}/max_abs']:.1e} / {100 * r[f'{role}/within_1_255']:.3f} %"
                 for role in ("new", "baseline")}
        lines.append(f"| {w}x{h} | {r['reps']}{'' if r['warmup'] else ' (no warm-up)'} | {cell(r, 'new/fp32')} | "
                     f"{cell(r, 'new/auto')} | {cell(r, 'baseline/fp32')} | {cell(r, 'baseline/auto')} | "
                     f"{r['ratio_new_baseline']['fp32']:.2f} | {r['ratio_new_baseline']['auto']:.2f} | "
                     f"{agree['new']} | {agree['baseline']} |")
    px = {s: s[0] * s[1] for s in rows}
    exps = {key: fit_exponent([(px[s], rows[s]["median_ms"][key]) for s in rows])
            for key in ("new/fp32", "new/auto", "baseline/fp32", "baseline/auto")}
    lines.append("\nTime ∝ pixels^e (least squares over the sizes above, medians): new e = "
                 f"{exps['new/fp32']:.2f} (fp32), {exps['new/auto']:.2f} (default); baseline e = "
                 f"{exps['baseline/fp32']:.2f} (fp32), {exps['baseline/auto']:.2f} (default). Load average (1 min) "
                 f"before this process: {enh['load_before']:.1f} on 2 cores: above 2, the medians include waiting for "
                 "the CPU and the ratios are the figures to compare.\n")

    lines += ["## Peak memory of `enhance --tile 512`, 2 threads, default precision\n",
              "`ptg-refine enhance`'s path (cli.enhance_image: F on the whole image, R on 512-pixel tiles, overlap 32; "
              "with `--tile-restorer` F on tiles too) in a fresh process per cell. Growth: VmHWM during the call over the RSS with the refiner and the "
              "image loaded (it includes F's output and the result, 12 bytes a pixel each); process: the peak RSS "
              "of the whole process (torch, model, input included).\n",
              "| size | options | refiner | growth MiB | process peak MiB | seconds | load before |",
              "|---|---|---|---|---|---|---|"]
    for m in res["memory"]:
        (h, w), growth = m["size"], m["peak_extra_mib"]
        options = f"--tile {m['tile']}" + (" --tile-restorer" if m.get("tile_restorer") else "")
        lines.append(f"| {w}x{h} | `{options}` | {m['role']} | {'?' if growth is None else f'{growth:.0f}'} | "
                     f"{m['peak_rss_mib']:.0f} | {m['seconds']:.1f} | {m['load_before']:.1f} |")

    lines += ["\n## Training step (8 crops of 96², benchmarks/train_step_time.py's batch)\n",
              "Steps of the two refiners interleaved in one process after 3 warm-up steps each. Cells: median ms "
              "(min ms).\n", "| threads | steps | new | baseline | new / baseline | load before |",
              "|---|---|---|---|---|---|"]
    for t in res["train"]:
        med, mn = t["median_ms"], t["min_ms"]
        lines.append(f"| {t['threads']} | {t['steps']} | {med['new']:.0f} ({mn['new']:.0f}) | {med['baseline']:.0f} "
                     f"({mn['baseline']:.0f}) | {med['new'] / med['baseline']:.2f} | {t['load_before']:.1f} |")

    lines += ["\n## Targets (issue 26)\n"] + [f"- {v}" for v in verdicts(res)]
    return lines


def verdicts(res: dict) -> list[str]:
    rows = {tuple(r["size"]): r for r in res["enhance"]["rows"]}
    out = []
    t = rows.get(TARGET_SIZE)
    if t is not None:
        ms, ratio = t["median_ms"]["new/auto"], t["ratio_new_baseline"]["auto"]
        out.append(f"enhance() of the new refiner at 600x400, default precision, median: {ms:.0f} ms (target <= "
                   f"{ENHANCE_TARGET_MS} ms): {verdict(ms <= ENHANCE_TARGET_MS)} on this machine at this load.")
        out.append(f"new / baseline at 600x400, default precision, same run: {ratio:.2f} (target <= {RATIO_TARGET}): "
                   f"{verdict(ratio <= RATIO_TARGET)}.")
    share = min(r["new/within_1_255"] for r in rows.values())
    out.append(f"new refiner's default path within 1/255 of its float32 output: {100 * share:.3f} % of values at "
               f"the worst size (target >= {100 * WITHIN_TARGET:.1f} %): {verdict(share >= WITHIN_TARGET)}.")
    big = [m for m in res["memory"] if m["role"] == "new" and tuple(m["size"]) == (6000, 8000)
           and not m.get("tile_restorer")]
    f_tiled = [m for m in res["memory"] if m["role"] == "new" and tuple(m["size"]) == (6000, 8000)
               and m.get("tile_restorer")]
    if big:
        m = big[0]
        growth, proc = m["peak_extra_mib"], m["peak_rss_mib"]
        out.append(f"8000x6000 with --tile 512, new refiner: process peak {proc / 1024:.2f} GiB, growth "
                   f"{'?' if growth is None else f'{growth / 1024:.2f}'} GiB (target <= {MEMORY_TARGET_GIB} GiB): "
                   f"{verdict(proc <= MEMORY_TARGET_GIB * 1024)} for the whole process, "
                   f"{verdict(growth is not None and growth <= MEMORY_TARGET_GIB * 1024)} for the growth"
                   + (f"; with --tile-restorer too: process peak {f_tiled[0]['peak_rss_mib'] / 1024:.2f} GiB"
                      if f_tiled else "") + ".")
    else:
        out.append("8000x6000 with --tile 512: not measured (--quick).")
    return out


def main():
    from ptg_refine._pretrained import default_pretrained

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--new", default=None, help="the refiner measured: a shipped name, a saved folder or built:fast / "
                                                "built:today (default: the library's default refiner, "
                                                f"{default_pretrained()})")
    ap.add_argument("--baseline", default="built:today", help="today's R: a shipped name, a saved folder or "
                                                              "built:today (default) / built:fast")
    ap.add_argument("--quick", action="store_true", help="fewer repeats and steps, no 4000x3000 nor 8000x6000; "
                                                         "printed, not written")
    args = ap.parse_args()
    from benchmarks._runs import code_version, write_results

    code_version()  # an uncommitted tree stops here, before the work (as under ``python -m benchmarks``)
    new = args.new or default_pretrained()
    options = "".join(f" --{k} {v}" for k, v in (("new", args.new), ("baseline", args.baseline))
                      if v is not None and not (k == "baseline" and v == "built:today"))
    command = f"python -m benchmarks speed-fast-r{options}{' --quick' if args.quick else ''}"
    t0, load0 = time.time(), os.getloadavg()
    res = measure(new, args.baseline, args.quick)
    load1 = os.getloadavg()
    header = (f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(t0))} UTC, {(time.time() - t0) / 60:.1f} min; commit "
              f"{code_version()}. Machine: {machine()}. Load average (1/5/15 min) "
              f"{'/'.join(f'{v:.1f}' for v in load0)} at the start, {'/'.join(f'{v:.1f}' for v in load1)} at the end.")
    lines = report(res, new, args.baseline, command, header)
    if args.quick:
        print("\n".join(lines))
    else:
        # the fast R's figures in speed_fast_r.md; another built R's beside them (speed_fast_r_light.md, ...)
        stem = "speed_fast_r" + (f"_{new.split(':', 1)[1]}" if new.startswith("built:") and new != "built:fast" else "")
        write_results(stem, lines, {"command": command, "new": new, "baseline": args.baseline, **res})


if __name__ == "__main__":
    main()
