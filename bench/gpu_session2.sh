#!/usr/bin/env bash
# Second GPU script of the session: the 4K run with refine_mode tiled (CUDA batch 16) vs full.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 YOLO_OFFLINE=1
python3 bench/make_weights.py /tmp/w 2>&1 | tail -2
python3 bench/throughput.py --frames 20 --device cuda --precision fp16 --backends sam2:mematte flow:mematte \
  --refine-mode tiled full \
  --sam-model /tmp/w/sam2_l.pt --mematte-checkpoint /tmp/w/MEMatte_ViTS_DIM.pth --shot /tmp/shot 2>&1 \
  | tee "$OUT/throughput2.txt"
