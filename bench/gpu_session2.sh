#!/usr/bin/env bash
# Second GPU script of the session: SAM2's real precision, and the 4K run with the CUDA batch default (16).
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 YOLO_OFFLINE=1
python3 bench/make_weights.py /tmp/w 2>&1 | tail -2
python3 bench/gpu_sam2_probe.py /tmp/w/sam2_l.pt 2>&1 | grep -v "^WARNING" | tee "$OUT/sam2_probe.txt"
python3 bench/throughput.py --frames 20 --device cuda --precision fp16 --backends sam2:mematte flow:mematte \
  --sam-model /tmp/w/sam2_l.pt --mematte-checkpoint /tmp/w/MEMatte_ViTS_DIM.pth --shot /tmp/shot 2>&1 \
  | tee "$OUT/throughput2.txt"
