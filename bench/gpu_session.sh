#!/usr/bin/env bash
# Every GPU measurement of this session in one script (device tool; results under $OUT). Carries: .whl (the
# packages the device lacks: README of the device tool), .baseline (the revision compared against, made here by
# `mkdir .baseline && git archive caecbe5 engine | tar -x -C .baseline`; the device copy has no git history).
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 YOLO_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
python3 bench/gpu_golden.py 2>&1 | tee "$OUT/golden.txt"
python3 bench/make_weights.py /tmp/w 2>&1 | tail -3
python3 bench/throughput.py --frames 20 --baseline caecbe5 --baseline-dir .baseline --device cuda --precision fp16 \
  --backends noop:noop sam2:mematte --sam-model /tmp/w/sam2_l.pt --mematte-checkpoint /tmp/w/MEMatte_ViTS_DIM.pth \
  --shot /tmp/shot 2>&1 | tee "$OUT/throughput.txt"
