#!/usr/bin/env bash
# The GPU session of 2026-11-28: issue 13's open target is 2 fps over 20 4K frames with sam2_l + MEMatte (the
# last GPU session measured 1.85-1.93 fps, about 5.5 s of it before the first alpha). This revision starts the
# tracker while the refine model loads and has MEMatte refine a throwaway frame meanwhile (a cold GPU's first
# forward); measured against fc343c5 (the revision before) in each invocation, two or three invocations (the
# segment column moves ±0.3 s between runs), then the CUDA-only tests and a profile of the time to the first alpha.
# Carries .whl (+ yappi) and .baseline (`mkdir .baseline && git archive fc343c5 engine | tar -x -C .baseline`).
# About 400 s: weights 10, the runs 2-3 x 110, tests 30, profile 40.
set -uo pipefail
source bench/gpu_setup.sh
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc; lscpu | grep "Model name"; } \
  | tee "$OUT/gpu.txt"
for run in 1 2 3; do
  [ "$run" = 3 ] && [ "$SECONDS" -gt 300 ] && break
  timeout 200 python3 bench/throughput.py --frames 20 --baseline fc343c5 --baseline-dir .baseline --device cuda \
    --precision fp16 --backends sam2:mematte $W 2>&1 | tail -6 | tee "$OUT/throughput_sam2_$run.txt"
  cp bench/results/throughput.json "$OUT/throughput_sam2_$run.json"
done
PYTHONPATH=engine:$PYTHONPATH timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_sam2.py \
  -k "cuda or graph" 2>&1 | tail -5 | tee "$OUT/pytest.txt"
timeout 60 python3 bench/profile_run.py /tmp/shot '{"segment_backend": "sam2", "device": "cuda", "precision": "fp16",
  "model": "/tmp/w/sam2_l.pt", "mematte_checkpoint": "/tmp/w/MEMatte_ViTS_DIM.pth"}' --top 12 2>&1 \
  > "$OUT/profile.txt"; head -30 "$OUT/profile.txt"
echo "elapsed $SECONDS s"
