#!/usr/bin/env bash
# Every GPU measurement of this session in one script (device tool; results under $OUT). Carries: .whl (the
# packages the device lacks: README of the device tool), .baseline (the revision compared against, made here by
# `mkdir .baseline && git archive caecbe5 engine | tar -x -C .baseline`; the device copy has no git history).
set -uo pipefail
source bench/gpu_setup.sh
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
python3 bench/gpu_golden.py 2>&1 | tee "$OUT/golden.txt"
python3 bench/throughput.py --frames 20 --baseline caecbe5 --baseline-dir .baseline --device cuda --precision fp16 \
  --backends noop:noop sam2:mematte $W 2>&1 | tee "$OUT/throughput.txt"
