#!/usr/bin/env bash
# For the next session with a GPU: what the session without one built but could not measure. Carries .whl and
# .baseline (`mkdir .baseline && git archive cc1c635 engine | tar -x -C .baseline`: the revision before the
# device-side tiles, SAM2 without random init and the channels-last decoder). Results under $OUT.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 YOLO_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
python3 bench/gpu_golden.py 2>&1 | tee "$OUT/golden.txt"
python3 bench/model_load.py --model sam2_l 2>&1 | tail -6 | tee "$OUT/model_load.txt"
python3 bench/make_weights.py /tmp/w 2>&1 | tail -2
python3 bench/throughput.py --frames 20 --baseline cc1c635 --baseline-dir .baseline --device cuda --precision fp16 \
  --backends sam2:mematte flow:mematte --refine-mode tiled full \
  --sam-model /tmp/w/sam2_l.pt --mematte-checkpoint /tmp/w/MEMatte_ViTS_DIM.pth --shot /tmp/shot 2>&1 \
  | tee "$OUT/throughput3.txt"
