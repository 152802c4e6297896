#!/usr/bin/env bash
# Accuracy per epoch, burn against PyTorch: the trainer and benches/pytorch_accuracy.py train
# the default model with the same recipe, TRAIN/VALIDATION split, number of epochs and seed,
# one after the other, then VALIDATION accuracy after each epoch is printed side by side.
#
#     benches/accuracy.sh [EPOCHS] [SEED]        (default 15 epochs, seed 42)
#
# The budget (BUDGET, default 30m) has to be long enough for the epochs: with --max-epochs
# the schedule follows the step count unless the clock runs ahead of it, which the Python
# side checks. A shorter budget gives more burn rows (the trainer validates at most every
# 1/25 of its budget): 15m gives one per epoch or two for 15 epochs on 2 cores. Early
# stopping is off, as in the twin. Needs the PyTorch
# reference's requirements (pip install -r benches/requirements.txt); PYTHON picks the
# interpreter. Everything is written under target/accuracy/.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-15}
seed=${2:-42}
out=target/accuracy
name=burn-$epochs-epochs-seed-$seed
mkdir -p "$out"
rm -rf "$out/models/$name" "$out/reports/$name"
cargo run -p trainer --example split_indices -- "$seed" > "$out/validation-$seed.txt"
cargo run -p trainer -- --budget "${BUDGET:-30m}" --max-epochs "$epochs" --width 1 \
    --label-smoothing 0 --search off --patience 0 --seed "$seed" --run-name "$name" \
    --models-dir "$out/models" --reports-dir "$out/reports"
"${PYTHON:-python3}" benches/pytorch_accuracy.py --epochs "$epochs" --seed "$seed" \
    --validation-indices "$out/validation-$seed.txt" \
    --burn-run "$out/reports/$name" --burn-model "$out/models/$name" \
    --json "$out/pytorch-$epochs-epochs-seed-$seed.json"
