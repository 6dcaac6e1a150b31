"""benchmarks/speed_fast_r.py (``python -m benchmarks speed-fast-r``): its workers on tiny inputs and its verdicts."""
import pytest
import torch

from benchmarks import _speed_workers as workers
from benchmarks import speed_fast_r
from benchmarks.fast_r import ARCHS

BOTH = {"new": "built:fast", "baseline": "built:today"}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_built_refiners_are_the_architectures_of_the_fast_r_study():
    assert {f"built:{a}" for a in ARCHS} <= set(workers._built())
    fast, today = (workers.build_refiner(s) for s in ("built:fast", "built:today"))
    assert not fast.training and not today.training
    n = {name: sum(p.numel() for p in r.net.parameters()) for name, r in (("fast", fast), ("today", today))}
    assert n["fast"] < n["today"] / 4
    x = torch.rand(1, 3, 32, 48) * 0.3
    for refiner in (fast, today):  # trained-looking: R changes F's output
        assert (refiner.enhance(x) - refiner.restore(x).clamp(0, 1)).abs().max() > 1e-3


def test_enhance_ab_times_the_four_runs_and_compares_each_default_path_with_its_float32():
    res = workers.worker_enhance_ab({"refiners": BOTH, "sizes": [[[48, 64], 2, 1], [[32, 32], 1, 0]],
                                     "threads": 1})
    assert [r["size"] for r in res["rows"]] == [[48, 64], [32, 32]]
    assert [r["warmup"] for r in res["rows"]] == [True, False]
    for row in res["rows"]:
        assert set(row["median_ms"]) == {"new/fp32", "new/auto", "baseline/fp32", "baseline/auto"}
        assert all(0 < row["min_ms"][k] <= row["median_ms"][k] for k in row["median_ms"])
        assert all(r > 0 for r in row["ratio_new_baseline"].values())
        for role in BOTH:
            assert 0 <= row[f"{role}/within_1_255"] <= 1 and row[f"{role}/max_abs"] >= 0
            if res["auto_is"] == "fp32":  # the default path is float32: same computation
                assert row[f"{role}/max_abs"] == 0
    assert res["params"]["new"] < res["params"]["baseline"]


@pytest.mark.parametrize("tile_restorer", [False, True])
def test_peak_memory_worker_runs_the_cli_tiled_path(tile_restorer):
    res = workers.worker_enhance_peak({"refiner": "built:fast", "size": [96, 160], "tile": 64,
                                       "tile_restorer": tile_restorer})
    # The kernel keeps RSS in approximate per-CPU counters: the high-water mark that clear_refs resets and the RSS read
    # after it can disagree by a few pages (CI saw -0.043 MiB, 11 pages, on a run that grew by nothing). So the growth
    # is asserted to be no less than -1 MiB: a worker that read the wrong field or subtracted the wrong way would be
    # off by the process's whole size (hundreds of MiB), not by pages.
    assert res["seconds"] > 0 and res["peak_rss_mib"] > 0 and res["rss_base_mib"] > 100
    assert res["peak_extra_mib"] is None or -1.0 <= res["peak_extra_mib"] < res["peak_rss_mib"]


def fake_run(new_ms=40.0, ratio=0.45, share=0.9995, process_mib=3500.0, growth_mib=2000.0, big=True):
    row = {"reps": 3, "warmup": True, "median_ms": {}, "min_ms": {}, "new/max_abs": 0.01, "baseline/max_abs": 0.02,
           "new/within_1_255": share, "baseline/within_1_255": 1.0, "ratio_new_baseline": {"fp32": 0.5,
                                                                                           "auto": ratio}}
    rows = []
    for (h, w), scale in (((200, 300), 0.25), ((400, 600), 1.0), ((800, 1200), 4.0)):
        times = {"new/fp32": 50 * scale, "new/auto": new_ms * scale, "baseline/fp32": 100 * scale,
                 "baseline/auto": new_ms / ratio * scale}
        rows.append({**row, "size": [h, w], "median_ms": times, "min_ms": times})
    memory = [{"role": role, "size": [6000, 8000], "tile": 512, "tile_restorer": tr,
               "peak_extra_mib": growth_mib / (2 if tr else 1), "peak_rss_mib": process_mib / (2 if tr else 1),
               "seconds": 9.0, "load_before": 1.0} for tr in (False, True) for role in BOTH] if big else []
    train = [{"threads": n, "steps": 3, "median_ms": {"new": 100, "baseline": 300},
              "min_ms": {"new": 90, "baseline": 280}, "load_before": 1.0} for n in (1, 2)]
    return {"enhance": {"rows": rows, "auto_is": "bf16", "native_bf16": True, "params": {"new": 1, "baseline": 2},
                        "load_before": 1.0}, "memory": memory, "train": train}


def test_verdicts_follow_the_issue_targets():
    lines = speed_fast_r.verdicts(fake_run())
    assert "40 ms" in lines[0] and "**met**" in lines[0]
    assert "0.45" in lines[1] and "**met**" in lines[1]
    assert "99.950 %" in lines[2] and "**met**" in lines[2]
    assert "**missed** for the whole process, **met** for the growth" in lines[3]  # 3.42 GiB process, 1.95 growth
    assert lines[3].endswith("with --tile-restorer too: process peak 1.71 GiB.")
    lines = speed_fast_r.verdicts(fake_run(new_ms=46, ratio=0.51, share=0.998, process_mib=3000, big=True))
    assert all("**missed**" in line for line in lines[:3]) and "**met** for the whole process" in lines[3]
    assert "not measured" in speed_fast_r.verdicts(fake_run(big=False))[3]


def test_report_names_its_command_and_fits_the_exponent():
    text = "\n".join(speed_fast_r.report(fake_run(), "sci-none", "built:today",
                                         "python -m benchmarks speed-fast-r", "header"))
    assert "`python -m benchmarks speed-fast-r`" in text
    assert "new e = 1.00 (fp32), 1.00 (default)" in text  # times ∝ pixels in the fake run
    assert "| 600x400 | 3 | 50 (50) | 40 (40) | 100 (100) | 89 (89) | 0.50 | 0.45 |" in text
    assert "| 8000x6000 | `--tile 512` | new | 2000 | 3500 | 9.0 | 1.0 |" in text
    assert "| 8000x6000 | `--tile 512 --tile-restorer` | baseline | 1000 | 1750 | 9.0 | 1.0 |" in text
