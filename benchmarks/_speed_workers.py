"""Measurement workers of benchmarks/speed.py and benchmarks/speed_fast_r.py: each runs one measurement in a fresh process and prints one
JSON line (so peak-memory figures belong to that workload only). Not meant to be run by hand:

    python -m benchmarks._speed_workers '{"kind": "latency", "component": "R", "size": [400, 600], "reps": 5}'
"""
from __future__ import annotations

import gc
import importlib
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from ptg_refine.diagnostics import SubnormalCounter, subnormal_mask

from benchmarks._paths import DATA

REAL = DATA / "real_lowlight"
IMG_4K = REAL / "zerodcepp_real" / "512_0_.png"        # 3840x2160 (the one 4K frame of the set)
IMG_1080 = REAL / "zerodcepp_real" / "126_0_.png"      # 1920x1080
IMG_LOL = REAL / "lol_eval15_low" / "1.png"            # 600x400
THREADS = 2


# -- helpers used inside workers ------------------------------------------------------------------------
def load_image(path, size=None):
    import numpy as np
    from PIL import Image

    img = Image.open(path).convert("RGB")
    arr = np.asarray(img, dtype=np.float32) / 255
    x = torch.from_numpy(arr.copy()).permute(2, 0, 1)[None]
    if size is not None:  # centre crop, resizing first if the image is too small
        h, w = size
        if x.shape[-2] < h or x.shape[-1] < w:
            x = torch.nn.functional.interpolate(x, size=(max(h, x.shape[-2]), max(w, x.shape[-1])),
                                                mode="bilinear", antialias=True, align_corners=False)
        top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
        x = x[..., top:top + h, left:left + w].contiguous()
    return x


def example_photo() -> Path:
    """The bundled 600x400 LOL photo."""
    return Path(__import__("ptg_refine").__file__).parent / "examples_data" / "lol_1.png"


def resized(x, h, w):
    """``x`` resized to h x w (bilinear, antialiased, clamped to [0, 1]); ``x`` itself when it has that size."""
    if (h, w) == tuple(x.shape[-2:]):
        return x
    return torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", antialias=True,
                                           align_corners=False).clamp(0, 1)


# refiners built here rather than loaded (--new / --baseline of benchmarks/speed_fast_r.py): F = SCI, no prior,
# R trained-looking; the refiner kwargs are benchmarks.fast_r.ARCHS (today's R: the paper's sizes with the prior
# layers, as shipped before issue 26; fast: FAST)
def _built() -> dict:
    """``built:<arch>`` -> the refiner settings of benchmarks.fast_r.ARCHS (today's R, the fast R, its ablations)."""
    from benchmarks.fast_r import ARCHS

    return {f"built:{name}": settings for name, settings in ARCHS.items()}


def build_refiner(spec: str):
    """A refiner to measure, in eval mode: ``built:<arch>`` (:func:`_built`), or a shipped refiner's name or a folder."""
    from ptg_refine import PTGRefiner

    built = _built()
    if spec in built:
        from ptg_refine.testing import trained_looking

        refiner = PTGRefiner(restorer="sci", prior="none:1280", prior_proj_dim=128, **built[spec])
        trained_looking(refiner.net, seed=0)
        return refiner.eval()
    return PTGRefiner.from_pretrained(spec).eval()


def trained_looking_net(prior_dim=512, seed=0):
    from ptg_refine.testing import trained_looking

    return trained_looking(prior_dim=prior_dim, seed=seed)


def rss_mib(field="VmRSS"):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def count_macs(fn):
    """(MACs, result) of fn(): flop counter (convs, matmuls) / 2 + the per-position filter's k²·C·H·W."""
    from torch.utils.flop_counter import FlopCounterMode

    ppf = importlib.import_module("ptg_refine.modules.per_position_filter")

    extra = [0]
    original = ppf.per_position_filter

    def counted(x, kernels, kernel_size=3):
        extra[0] += kernel_size * kernel_size * x.numel()
        return original(x, kernels, kernel_size)

    ppf.per_position_filter = counted
    try:
        with FlopCounterMode(display=False) as counter:
            out = fn()
    finally:
        ppf.per_position_filter = original
    return counter.get_total_flops() // 2 + extra[0], out


# -- workers ------------------------------------------------------------------------------------------------
def worker_latency(job):
    """Median latency and peak RSS growth of one component on one input size."""
    from ptg_refine.tiling import _refine_tiled as refine_tiled, _tiled_map as tiled_map

    torch.set_num_threads(job.get("threads", THREADS))
    h, w = job["size"]
    kind, name = job["component"].split(":", 1) if ":" in job["component"] else (job["component"], None)
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)) * 0.4
    macs = None
    if kind == "R":
        net = trained_looking_net()
        restored, g = (x * 2.5).clamp(0, 1), torch.nn.functional.normalize(torch.randn(1, 512), dim=1)
        if job.get("tiled"):
            run = lambda: refine_tiled(net, x, restored, g, tile=512, overlap=32)  # noqa: E731
        else:
            run = lambda: net(x, restored, g)  # noqa: E731
    elif kind == "F":
        from ptg_refine.restorers import create_restorer

        f = create_restorer(name)
        run = (lambda: tiled_map(f, x, tile=512, overlap=32, context=64)) if job.get("tiled") else (lambda: f(x))
    else:
        from ptg_refine import create_prior

        prior = create_prior(name, pretrained=None if name == "clip" else "default")
        run = lambda: prior(x)  # noqa: E731
    with torch.no_grad():
        if kind == "R":  # one-time initialisation (oneDNN kernels, thread pool, flop counter) not counted
            net(x[..., :64, :64], restored[..., :64, :64], g)
            count_macs(lambda: net(x[..., :32, :32], restored[..., :32, :32], g))
        gc.collect()
        peak_ok = reset_peak()  # before the full-size warm-up: its allocations from the OS count
        base = rss_mib()
        if kind == "R":
            macs, _ = count_macs(run)  # also the warm-up
        elif job.get("warmup", True):
            run()
        times = []
        for _ in range(job["reps"]):
            t = time.perf_counter()
            run()
            times.append(time.perf_counter() - t)
        peak = rss_mib("VmHWM")
    return {"median_ms": 1000 * sorted(times)[len(times) // 2], "min_ms": 1000 * min(times), "reps": len(times),
            "peak_extra_mib": (peak - base) if peak_ok else None, "rss_mib": base, "macs": macs}


def worker_rss4k(job):
    """End-to-end PTGRefiner.enhance of the 4K photo, tiled: the process's peak RSS (ru_maxrss)."""
    rss_torch = rss_mib()  # torch imported
    from ptg_refine import PTGRefiner

    torch.set_num_threads(THREADS)
    prior = job["prior"]
    # CLIP: weights from a local open_clip checkpoint file when given (the path real weights take: image tower
    # built on the meta device and filled from the file), else random init
    weights = job.get("prior_weights") or (None if prior == "clip" else "default")
    refiner = PTGRefiner(restorer="sci", prior=prior, prior_pretrained=weights).eval()
    for head in (refiner.net.decoder.mask_head, refiner.net.decoder.residual_head):
        head.reset_parameters()
    rss_model = rss_mib()
    x = load_image(IMG_4K)
    rss_image = rss_mib()
    t = time.perf_counter()
    out = refiner.enhance(x, tile=512, overlap=32, tile_restorer=job["tile_restorer"])
    seconds = time.perf_counter() - t
    assert out.shape == x.shape and torch.isfinite(out).all()
    return {"seconds": seconds, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "shape": list(x.shape), "rss_torch": rss_torch, "rss_model": rss_model, "rss_image": rss_image}


def worker_clip_checkpoint(job):
    """Write a full open_clip ViT-B-32 checkpoint (both towers, random weights, safetensors) to job["path"]: a
    stand-in for the real `openai` weights file, which cannot be downloaded here."""
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None, force_quick_gelu=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, job["path"])
    return {"params": sum(p.numel() for p in model.parameters()),
            "visual_params": sum(p.numel() for p in model.visual.parameters())}


def psnr(a, b):
    """PSNR (dB) of two (1,3,H,W) outputs, by the package's metric (at most 80 dB: its eps is 1e-8), so
    agreement closer than that is read from the max abs diff."""
    from ptg_refine.evaluate import psnr as package_psnr

    return float(package_psnr(a, b.clamp(0, 1))[0])


def worker_tiling(job):
    """Tiled vs untiled at 1024x1024 (a crop of a real 1080p low-light photo), F = SCI, G = Lite0."""
    from ptg_refine import PTGRefiner
    from ptg_refine.tiling import _refine_tiled as refine_tiled
    from ptg_refine.testing import trained_looking

    torch.set_num_threads(THREADS)
    refiner = PTGRefiner(restorer="sci", prior="efficientnet_lite0").eval()
    trained_looking(refiner.net, seed=0)  # in place: the heads get random values
    x = load_image(IMG_1080, (1024, 1024))
    rows = []
    with torch.no_grad():
        restored, g = refiner.restore(x), refiner.prior_features(x)
        t = time.perf_counter()
        whole = refiner.net(x, restored, g)
        rows.append({"mode": "untiled", "seconds": time.perf_counter() - t})
        change = float((whole.clamp(0, 1) - restored).abs().mean())
        for mode, kwargs in [("tiled, exact statistics (default)", {}),
                             ("tiled, per-tile statistics", {"stats": "tile"}),
                             ("tiled, exact statistics, no context", {"context": 0})]:
            t = time.perf_counter()
            out = refine_tiled(refiner.net, x, restored, g, tile=512, overlap=32, **kwargs)
            rows.append({"mode": mode, "seconds": time.perf_counter() - t, "max_abs": float((out - whole).abs().max()),
                         "psnr": psnr(out, whole)})
    return {"rows": rows, "mean_change_by_R": change}




def worker_precision(job):
    torch.set_num_threads(THREADS)
    net = trained_looking_net()
    x = load_image(IMG_LOL)
    restored = (x * 4).clamp(0, 1) ** 0.8
    g = torch.nn.functional.normalize(torch.randn(1, 512, generator=torch.Generator().manual_seed(0)), dim=1)
    res = {}
    with torch.no_grad():
        ref = net(x, restored, g)
        res["mean_change_by_R"] = float((ref - restored).abs().mean())
        for name, dtype in (("bfloat16", torch.bfloat16), ("float16", torch.float16)):
            with torch.autocast("cpu", dtype=dtype):
                out = net(x, restored, g).float()
            d = (out - ref).abs()
            res[name] = {"max": float(d.max()), "mean": float(d.mean()), "psnr": psnr(out, ref)}
        nans = {}
        for value in (0.0, 1.0):
            c = torch.full((1, 3, 400, 600), value)
            for name, dtype in (("float32", None), ("bfloat16", torch.bfloat16), ("float16", torch.float16)):
                with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                    nans[f"{'white' if value else 'black'} {name}"] = bool(torch.isfinite(net(c, c, g)).all())
        res["finite"] = nans
        params = torch.cat([p.flatten() for p in net.parameters()])
        res["weights"] = {"subnormal": int(subnormal_mask(params).sum()), "values": params.numel()}
        with SubnormalCounter() as counter:
            net(x, restored, g)
        res["activations"] = {"subnormal": counter.subnormal, "values": counter.values}
    return res


def worker_compile(job):
    torch.set_num_threads(THREADS)
    net = trained_looking_net()
    compiled = torch.compile(net, dynamic=True)
    res = {"shapes": []}
    with torch.no_grad():
        for h, w in [(96, 128), (400, 600)]:
            x = torch.rand(1, 3, h, w) * 0.4
            restored, g = (x * 2.5).clamp(0, 1), torch.nn.functional.normalize(torch.randn(1, 512), dim=1)
            t = time.perf_counter()
            out = compiled(x, restored, g)
            first = time.perf_counter() - t
            res["shapes"].append({"size": [h, w], "first_call_s": first,
                                  "max_abs_vs_eager": float((out - net(x, restored, g)).abs().max())})
        times_c, times_e = [], []
        for _ in range(9):
            t = time.perf_counter()
            compiled(x, restored, g)
            times_c.append(time.perf_counter() - t)
            t = time.perf_counter()
            net(x, restored, g)
            times_e.append(time.perf_counter() - t)
    res["compiled_ms_600x400"] = 1000 * sorted(times_c)[4]
    res["eager_ms_600x400"] = 1000 * sorted(times_e)[4]
    return res


def worker_onnx(job):
    import onnxruntime as ort

    from ptg_refine.export import export_onnx

    torch.set_num_threads(THREADS)
    net = trained_looking_net()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        path = export_onnx(net, Path(tmp) / "r.onnx", example_size=(64, 64))
        export_s = time.perf_counter() - t
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = THREADS, 1
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        x = load_image(IMG_LOL)
        restored = (x * 4).clamp(0, 1) ** 0.8
        g = torch.nn.functional.normalize(torch.randn(1, 512, generator=torch.Generator().manual_seed(0)), dim=1)
        feeds = {"low": x.numpy(), "restored": restored.numpy(), "prior_features": g.numpy()}
        out, = sess.run(None, feeds)
        with torch.no_grad():
            ref = net(x, restored, g)
        times = []
        for _ in range(9):
            t = time.perf_counter()
            sess.run(None, feeds)
            times.append(time.perf_counter() - t)
    return {"export_s": export_s, "max_abs": float((torch.from_numpy(out) - ref).abs().max()),
            "ort_ms_600x400": 1000 * sorted(times)[4]}


def worker_enhance(job):
    """PTGRefiner.enhance of a shipped refiner on a 600x400 LOL photo (and resized copies): precision "fp32" and
    the default ("auto"), interleaved (alternating order) so that both see the same machine load; the default
    path's agreement with float32."""
    from ptg_refine import PTGRefiner
    from ptg_refine._inference_precision import autocast_dtype, cpu_has_native_bf16

    torch.set_num_threads(job.get("threads", THREADS))
    refiner = PTGRefiner.from_pretrained(job["refiner"])
    photo = load_image(example_photo())
    rows = []
    for scale in job.get("scales", [1.0]):
        x = resized(photo, round(400 * scale / 4) * 4, round(600 * scale / 4) * 4)
        h, w = x.shape[-2:]
        runs = {p: (lambda p=p: refiner.enhance(x, precision=p)) for p in ("fp32", "auto")}
        outs = {p: run() for p, run in runs.items()}  # warm-up
        diff = (outs["auto"] - outs["fp32"]).abs()
        times = {p: [] for p in runs}
        for i in range(job["reps"]):
            for p in (("fp32", "auto") if i % 2 == 0 else ("auto", "fp32")):
                t = time.perf_counter()
                runs[p]()
                times[p].append(time.perf_counter() - t)
        med = {p: 1000 * sorted(v)[len(v) // 2] for p, v in times.items()}
        rows.append({"size": [h, w], "reps": job["reps"], "median_ms": med,
                     "min_ms": {p: 1000 * min(v) for p, v in times.items()},
                     "ratio_auto_fp32": med["auto"] / med["fp32"], "max_abs": float(diff.max()),
                     "within_1_255": float((diff <= 1 / 255).float().mean())})
    dtype = autocast_dtype("auto", torch.device("cpu"))
    return {"refiner": job["refiner"], "native_bf16": cpu_has_native_bf16(),
            "auto_is": "bf16" if dtype is not None else "fp32", "rows": rows}


def worker_enhance_ab(job):
    """PTGRefiner.enhance of two refiners (job["refiners"]: role -> spec for :func:`build_refiner`) on the bundled
    LOL photo resized to each of job["sizes"] ([[h, w], reps, warm-up?]), in float32 ("fp32") and the default
    precision ("auto"): the four runs interleaved (their order rotated every repeat) so that they see the same
    load; per repeat, the ratio of the two refiners' times; each refiner's default path against its own float32
    output."""
    torch.set_num_threads(job.get("threads", THREADS))
    refiners = {role: build_refiner(spec) for role, spec in job["refiners"].items()}
    photo = load_image(example_photo())
    rows = []
    for (h, w), reps, warmup in job["sizes"]:
        x = resized(photo, h, w)
        keys = [(role, p) for role in refiners for p in ("fp32", "auto")]
        times = {k: [] for k in keys}
        outs = {}
        for i in range(reps + warmup):
            for k in keys[i % len(keys):] + keys[:i % len(keys)]:
                t = time.perf_counter()
                out = refiners[k[0]].enhance(x, precision=k[1])
                seconds = time.perf_counter() - t
                if i == 0:
                    outs[k] = out
                if i >= warmup:
                    times[k].append(seconds)
        row = {"size": [h, w], "reps": reps, "warmup": bool(warmup),
               "median_ms": {f"{r}/{p}": 1000 * statistics.median(v) for (r, p), v in times.items()},
               "min_ms": {f"{r}/{p}": 1000 * min(v) for (r, p), v in times.items()}}
        if {"new", "baseline"} <= set(refiners):
            row["ratio_new_baseline"] = {p: statistics.median(a / b for a, b in zip(times["new", p],
                                                                                    times["baseline", p]))
                                         for p in ("fp32", "auto")}
        for role in refiners:
            diff = (outs[role, "auto"] - outs[role, "fp32"]).abs()
            row[f"{role}/max_abs"] = float(diff.max())
            row[f"{role}/within_1_255"] = float((diff <= 1 / 255).double().mean())
        rows.append(row)
        del outs
        gc.collect()
    from ptg_refine._inference_precision import autocast_dtype, cpu_has_native_bf16

    return {"rows": rows, "native_bf16": cpu_has_native_bf16(),
            "auto_is": "bf16" if autocast_dtype("auto", torch.device("cpu")) is not None else "fp32",
            "params": {role: sum(p.numel() for p in r.net.parameters()) for role, r in refiners.items()}}


def worker_enhance_peak(job):
    """Peak memory of one enhance of a job["size"] image the way ``ptg-refine enhance --tile T`` runs it
    (cli.enhance_image; default precision; job["tile_restorer"]: with ``--tile-restorer``, F tile by tile too): growth of VmHWM over the RSS with the refiner and the image loaded
    (after a 64x64 call), and the process's peak RSS."""
    import argparse

    from ptg_refine.cli.enhance import enhance_image

    torch.set_num_threads(THREADS)
    refiner = build_refiner(job["refiner"])
    h, w = job["size"]
    x = resized(load_image(example_photo()), h, w)
    with torch.no_grad():
        refiner.enhance(x[..., :64, :64])
    gc.collect()
    peak_ok = reset_peak()
    base = rss_mib()
    t = time.perf_counter()
    _, out = enhance_image(refiner, x, argparse.Namespace(tile_restorer=job.get("tile_restorer", False)),
                           tile=job.get("tile"))
    seconds = time.perf_counter() - t
    assert out.shape == x.shape and torch.isfinite(out).all()
    return {"seconds": seconds, "peak_extra_mib": (rss_mib("VmHWM") - base) if peak_ok else None,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rss_base_mib": base}


def worker_train_step(job):
    """Training step time of the refiners of job["refiners"] (role -> spec), steps interleaved in one process:
    benchmarks.train_step_time's shipping batch (8 crops of 96 px), job["threads"] threads."""
    from benchmarks.train_step_time import WARMUP, shipping_trainer, timed_step

    torch.set_num_threads(job["threads"])
    torch.manual_seed(0)
    trainers = {role: shipping_trainer(build_refiner(spec), job["steps"]) for role, spec in job["refiners"].items()}
    times = {role: [] for role in trainers}
    for i in range(job["steps"] + WARMUP):
        for role in (list(trainers) if i % 2 == 0 else list(trainers)[::-1]):
            seconds = timed_step(trainers[role])
            if i >= WARMUP:
                times[role].append(seconds)
    return {"threads": job["threads"], "steps": job["steps"],
            "median_ms": {role: 1000 * statistics.median(v) for role, v in times.items()},
            "min_ms": {role: 1000 * min(v) for role, v in times.items()}}


WORKERS = {"latency": worker_latency, "rss4k": worker_rss4k, "tiling": worker_tiling, "precision": worker_precision,
           "compile": worker_compile, "onnx": worker_onnx, "clip_checkpoint": worker_clip_checkpoint,
           "enhance": worker_enhance, "enhance_ab": worker_enhance_ab, "enhance_peak": worker_enhance_peak,
           "train_step": worker_train_step}


if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    print(json.dumps(WORKERS[job["kind"]](job)))
