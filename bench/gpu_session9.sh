#!/usr/bin/env bash
# The GPU session of 2026-11-28 (ran on an H200, then on two H100 machines with the tests moved first): issue 13's open
# target is 2 fps over 20 4K frames with sam2_l + MEMatte (the last GPU session measured 1.85-1.93 fps, about
# 5.5 s of it before the first alpha). The revision measured (94a4be0) started the tracker while the refine model
# loaded and had MEMatte refine a throwaway frame meanwhile (a cold GPU's first forward); against fc343c5 (the
# revision before) in each invocation, three invocations (the segment column moves ±0.3 s between runs), then a
# profile of the time to the first alpha. The throwaway frame bought nothing measurable and was taken out.
# Carries .whl (+ yappi) and .baseline (`mkdir .baseline && git archive fc343c5 engine | tar -x -C .baseline`).
# About 190 s: weights 10, tests 15, the runs 3 x 50, profile 20.
set -uo pipefail
source bench/gpu_setup.sh
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc; lscpu | grep "Model name"; } \
  | tee "$OUT/gpu.txt"
# The CUDA-only tests first: they also load torch's CUDA libraries into the page cache, as any machine has them
# after its first run (on the fresh H200 the first measured process paid it: 10.2 s to the first alpha, 7.6-9.0 after).
PYTHONPATH=engine:$PYTHONPATH timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_sam2.py \
  -k "cuda or graph" 2>&1 | tail -5 | tee "$OUT/pytest.txt"
for run in 1 2 3; do
  [ "$run" = 3 ] && [ "$SECONDS" -gt 300 ] && break
  timeout 200 python3 bench/throughput.py --frames 20 --baseline fc343c5 --baseline-dir .baseline --device cuda \
    --precision fp16 --backends sam2:mematte $W 2>&1 | tail -6 | tee "$OUT/throughput_sam2_$run.txt"
  cp bench/results/throughput.json "$OUT/throughput_sam2_$run.json"
done
timeout 60 python3 bench/profile_run.py /tmp/shot '{"segment_backend": "sam2", "device": "cuda", "precision": "fp16",
  "model": "/tmp/w/sam2_l.pt", "mematte_checkpoint": "/tmp/w/MEMatte_ViTS_DIM.pth"}' --top 12 2>&1 \
  > "$OUT/profile.txt"; head -30 "$OUT/profile.txt"
echo "elapsed $SECONDS s"
