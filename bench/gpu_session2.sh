#!/usr/bin/env bash
# Second GPU script of the session: the 4K run with refine_mode tiled (CUDA batch 16) vs full.
set -uo pipefail
source bench/gpu_setup.sh
python3 bench/throughput.py --frames 20 --device cuda --precision fp16 --backends sam2:mematte flow:mematte \
  --refine-mode tiled full $W 2>&1 | tee "$OUT/throughput2.txt"
