"""The studies beside the library: speed, quality, prior calibration, real pairs, few-shot adaptation, faults.

Run from the repository root as ``python -m benchmarks <command>`` (``python -m benchmarks`` lists them); every
results file under ``benchmarks/results/`` names the command that wrote it. Not installed with ``ptg_refine``.
"""
