#!/usr/bin/env bash
# Every GPU measurement of a session in one script (device tool; results under $OUT, each step under its own
# time limit so one slow step leaves the others' results). Carries .whl (the packages the device lacks: the
# device tool's README) and .baseline (`mkdir .baseline && git archive cc1c635 engine | tar -x -C .baseline`: the
# revision last measured on a GPU; the device copy has no git history).
set -uo pipefail
source bench/gpu_setup.sh
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
timeout 230 python3 bench/throughput.py --frames 20 --baseline cc1c635 --baseline-dir .baseline --device cuda \
  --precision fp16 --backends sam2:mematte $W 2>&1 | tee "$OUT/throughput_sam2.txt"
timeout 100 python3 bench/gpu_mematte.py /tmp/w/MEMatte_ViTS_DIM.pth 2>&1 | tee "$OUT/mematte.txt"
timeout 60 python3 bench/gpu_sam2_probe.py /tmp/w/sam2_l.pt 2>&1 | tee "$OUT/sam2_probe.txt"
timeout 70 python3 bench/throughput.py --frames 20 --device cuda --precision fp16 --backends flow:mematte $W 2>&1 \
  | tee "$OUT/throughput_flow.txt"
PYTHONPATH=/tmp/site:engine:tests timeout 40 python3 bench/gpu_golden.py 2>&1 | tee "$OUT/golden.txt"
