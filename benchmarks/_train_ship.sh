# Shared body of benchmarks/train_*.sh (sourced; expects WORK, NAME, RESTORER, ITERS).
[ -d "$WORK/train2" ] || ptg-refine synth --clean /work/shared/data/clean/train --out "$WORK/train2" --variants 2 --seed 0 --max-side 512
[ -d "$WORK/val" ] || ptg-refine synth --clean /work/shared/data/clean/val --out "$WORK/val" --variants 1 --seed 1
ptg-refine train --pairs "$WORK/train2" --val-pairs "$WORK/val" --restorer "$RESTORER" --prior efficientnet_lite0 \
    --prior-proj-dim 128 $EXTRA --iterations "$ITERS" --batch-size 4 --crop-size 128 --lr 1e-3 --seed 0 \
    --val-every 250 --ckpt-every 100 --cache-dir "$WORK/cache" --threads 1 --no-progress --out "$WORK/runs/$NAME" --resume
rm -rf "src/ptg_refine/pretrained/$NAME"
mkdir -p src/ptg_refine/pretrained
cp -r "$WORK/runs/$NAME/final" "src/ptg_refine/pretrained/$NAME"
chmod 644 "src/ptg_refine/pretrained/$NAME"/*
ptg-refine eval --pairs "$WORK/val" --refiner "$NAME" --out "$WORK/eval/$NAME" --threads 1
python benchmarks/model_card.py --refiner "src/ptg_refine/pretrained/$NAME" --history "$WORK/runs/$NAME/history.json" \
    --eval "$WORK/eval/$NAME/metrics.json" --command "sh benchmarks/$(basename "$0")"
