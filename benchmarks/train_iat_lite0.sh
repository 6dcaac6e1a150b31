#!/bin/sh
# Train and ship `iat_lol_v1-lite0` (F = IAT trained on LOL-v1, prior = EfficientNet-Lite0) on SYNTHETIC pairs.
# Command (from the repository root, ~20 min on a shared 2-core CPU, F caching included):  sh benchmarks/train_iat_lite0.sh
# Resumable: re-running continues from the last checkpoint in $WORK/runs/iat_lol_v1-lite0.
set -e
WORK=${WORK:-/work/tmp_ptg}
NAME=iat_lol_v1-lite0 RESTORER=iat ITERS=${ITERS:-800}
. benchmarks/_train_ship.sh
