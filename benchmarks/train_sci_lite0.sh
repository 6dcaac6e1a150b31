#!/bin/sh
# Train and ship the default refiner `sci-lite0` (F = SCI-medium, prior = EfficientNet-Lite0) on SYNTHETIC pairs.
# Command (from the repository root, ~15 min on a shared 2-core CPU):  sh benchmarks/train_sci_lite0.sh
# Resumable: re-running continues from the last checkpoint in $WORK/runs/sci-lite0.
set -e
WORK=${WORK:-/work/tmp_ptg}
NAME=sci-lite0 RESTORER=sci ITERS=${ITERS:-800}
. benchmarks/_train_ship.sh
