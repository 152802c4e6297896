#!/usr/bin/env bash
# The speed benchmark, both sides in one go on this machine: burn (flex and ndarray) with
# `trainer bench`, then the PyTorch reference on the same architectures, and the ratios.
# Needs the PyTorch reference's requirements: pip install -r benches/requirements.txt
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
cargo run --release -p trainer -- bench --json "$@" > target/bench-burn.json
python3 benches/pytorch_reference.py --burn target/bench-burn.json
