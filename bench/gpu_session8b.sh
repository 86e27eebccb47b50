#!/usr/bin/env bash
# Session 8's last device call, after gpu_session8.sh's profile: the first frames decoding while the models
# load (removed after this measurement: docs/benchmarks.md), up to 8 writer threads. The sam2 + mematte run
# against b4cb2a3 twice (run-to-run noise), and the run's milestones (bench/profile_run.py). Carries .whl
# (+ yappi) and .baseline (b4cb2a3's engine). About 200 s.
set -uo pipefail
source bench/gpu_setup.sh
for round in 1 2; do
  timeout 120 python3 bench/throughput.py --frames 20 --baseline b4cb2a3 --baseline-dir .baseline --device cuda \
    --precision fp16 --backends sam2:mematte $W 2>&1 | tail -4 | tee "$OUT/throughput_sam2_$round.txt"
done
timeout 60 python3 bench/profile_run.py /tmp/shot '{"segment_backend": "sam2", "device": "cuda", "precision": "fp16",
  "model": "/tmp/w/sam2_l.pt", "mematte_checkpoint": "/tmp/w/MEMatte_ViTS_DIM.pth"}' --top 30 > "$OUT/profile.txt" 2>&1
sed -n 1,20p "$OUT/profile.txt"
