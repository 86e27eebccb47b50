#!/usr/bin/env bash
# The next GPU session's script: SAM2's probability kept on the GPU (thresholds, band and the drift check's mask
# there; only the uint8 trimap comes back) against the revision before it, the whole run in fp32 (SAM2 stepped
# faster in fp32 than fp16 in every session so far), MEMatte alone on a 4K frame (the frame's
# transfers through page-locked memory and the trimap uploaded as uint8: 63 of its 134 ms CUDA time were
# pageable transfers; a batch's global attention in one fused call instead of a loop over the tiles; a full
# frame's decoder patches in groups), and the golden cases on the GPU (the fused attention's kernels). The runs'
# tables now split the fixed cost (time to the first alpha) from the steady time per frame.
# Carries .whl and .baseline
# (`mkdir .baseline && git archive 0fe0c46 engine | tar -x -C .baseline`).
# About 540 s in all (one device call of at most 600): weights 80, golden 45, MEMatte 80, the runs 230 + 100.
set -uo pipefail
source bench/gpu_setup.sh
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
timeout 45 python3 bench/gpu_golden.py 2>&1 | tee "$OUT/golden.txt"
timeout 80 python3 bench/gpu_mematte.py /tmp/w/MEMatte_ViTS_DIM.pth 2>&1 | tee "$OUT/mematte.txt"
timeout 230 python3 bench/throughput.py --frames 20 --baseline 0fe0c46 --baseline-dir .baseline --device cuda \
  --precision fp16 --backends sam2:mematte $W 2>&1 | tee "$OUT/throughput_sam2.txt"
timeout 100 python3 bench/throughput.py --frames 20 --device cuda --precision fp32 --backends sam2:mematte $W 2>&1 \
  | tee "$OUT/throughput_sam2_fp32.txt"
