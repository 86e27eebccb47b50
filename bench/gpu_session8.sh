#!/usr/bin/env bash
# The GPU session after session 7 (supersedes gpu_session7.sh): measures what was built from its numbers —
# SAM2's image encoder replayed from a CUDA graph (runtime.cuda_graphs), MEMatte's CUDA batch chosen by free
# memory (32 on an H100), the preflight's plate check beside the model files' checks — against b4cb2a3 (the
# revision session 7 measured), the engine's CUDA-only test, fp32's full-frame peak, and a yappi profile of
# one run (where the time to the first alpha goes).
# Carries .whl (+ yappi) and .baseline (`mkdir .baseline && git archive b4cb2a3 engine | tar -x -C .baseline`).
# About 300 s: weights 10, test 30, MEMatte 60, the runs 120, profile 40.
set -uo pipefail
source bench/gpu_setup.sh
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
PYTHONPATH=engine:$PYTHONPATH timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_sam2.py \
  -k "cuda or graph" \
  2>&1 | tail -15 | tee "$OUT/pytest.txt"
timeout 60 python3 bench/gpu_mematte.py /tmp/w/MEMatte_ViTS_DIM.pth 2>&1 | grep "|" | grep -v "aten\|void\|cuda" \
  | tee "$OUT/mematte.txt"
timeout 40 python3 bench/gpu_mematte.py /tmp/w/MEMatte_ViTS_DIM.pth --precision fp32 --frames 2 2>&1 | grep "|" \
  | grep -v "aten\|void\|cuda" | tee "$OUT/mematte_fp32.txt"
timeout 150 python3 bench/throughput.py --frames 20 --baseline b4cb2a3 --baseline-dir .baseline --device cuda \
  --precision fp16 --backends sam2:mematte $W 2>&1 | tee "$OUT/throughput_sam2.txt"
timeout 60 python3 bench/throughput.py --frames 20 --device cuda --precision fp16 --backends sam2:mematte \
  --refine-mode tiled $W 2>&1 | tail -4 | tee "$OUT/throughput_tiled.txt"
timeout 60 python3 bench/profile_run.py /tmp/shot '{"segment_backend": "sam2", "device": "cuda", "precision": "fp16",
  "model": "/tmp/w/sam2_l.pt", "mematte_checkpoint": "/tmp/w/MEMatte_ViTS_DIM.pth"}' --top 12 2>&1 \
  > "$OUT/profile.txt"; head -20 "$OUT/profile.txt"
