#!/usr/bin/env bash
# The re-measure after the trimap's band moved to the GPU (bench/gpu_session4.sh's set-up, its two main steps).
set -uo pipefail
source bench/gpu_setup.sh
timeout 230 python3 bench/throughput.py --frames 20 --baseline cc1c635 --baseline-dir .baseline --device cuda \
  --precision fp16 --backends sam2:mematte $W 2>&1 | tee "$OUT/throughput_sam2.txt"
timeout 60 python3 bench/gpu_sam2_probe.py /tmp/w/sam2_l.pt 2>&1 | tee "$OUT/sam2_probe.txt"
timeout 70 python3 bench/throughput.py --frames 20 --device cuda --precision fp16 --backends flow:mematte $W 2>&1 \
  | tee "$OUT/throughput_flow.txt"
