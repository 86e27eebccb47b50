#!/usr/bin/env bash
# The next GPU session (supersedes gpu_session8.sh): where the run stands against 57f4317, the revision the last
# GPU session measured, after the sessions without a GPU since (the colour pass loaded during the preflight,
# frame_done sent by the writers: the first-alpha column now times the file on disk, the baseline's its later
# event). Issue 13's open target is 2 fps over 20 4K frames with sam2_l + MEMatte: two invocations (the segment
# column moves ±0.3 s between runs), each also with bench/warm_up.py's candidate for the fixed cost (both models
# run once as they load: row this+warm-up), the CUDA-only tests, and a profile of the time to the first alpha.
# Carries .whl (+ yappi) and .baseline (`mkdir .baseline && git archive 57f4317 engine | tar -x -C .baseline`).
# About 420 s: weights 10, tests 30, the runs 2 x 170, profile 40.
set -uo pipefail
source bench/gpu_setup.sh
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
PYTHONPATH=engine:$PYTHONPATH timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_sam2.py \
  -k "cuda or graph" 2>&1 | tail -15 | tee "$OUT/pytest.txt"
for run in 1 2; do
  timeout 200 python3 bench/throughput.py --frames 20 --baseline 57f4317 --baseline-dir .baseline --device cuda \
    --precision fp16 --backends sam2:mematte --warm-up $W 2>&1 | tail -6 | tee "$OUT/throughput_sam2_$run.txt"
done
timeout 60 python3 bench/profile_run.py /tmp/shot '{"segment_backend": "sam2", "device": "cuda", "precision": "fp16",
  "model": "/tmp/w/sam2_l.pt", "mematte_checkpoint": "/tmp/w/MEMatte_ViTS_DIM.pth"}' --top 12 2>&1 \
  > "$OUT/profile.txt"; head -24 "$OUT/profile.txt"
