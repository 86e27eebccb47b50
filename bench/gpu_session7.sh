#!/usr/bin/env bash
# The next GPU session's script (supersedes gpu_session6.sh, which no session ran). Measures what the sessions
# without a GPU built since 0fe0c46 (the last revision measured on one):
# - the golden cases on the GPU (the fused attention's kernels);
# - MEMatte alone on a 4K frame (transfers through page-locked memory, the trimap uploaded as uint8, a batch's
#   global attention in one fused call, a full frame's decoder patches in groups);
# - SAM2's image encoder as a CUDA graph (bench/gpu_sam2_graph.py: the tracker's step, alone and beside a
#   MEMatte thread), to decide whether the engine should capture it;
# - the sam2 + mematte run at 20 frames against 0fe0c46 (SAM2's probability kept on the GPU, each frame encoded
#   once, the two models loading side by side), its time to the first alpha split from the steady time per frame.
# Carries .whl and .baseline (`mkdir .baseline && git archive 0fe0c46 engine | tar -x -C .baseline`).
# About 530 s in all (one device call of at most 600): weights 80, golden 45, MEMatte 80, graph 90, the runs 230.
set -uo pipefail
source bench/gpu_setup.sh
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
timeout 45 python3 bench/gpu_golden.py 2>&1 | tee "$OUT/golden.txt"
timeout 80 python3 bench/gpu_mematte.py /tmp/w/MEMatte_ViTS_DIM.pth 2>&1 | tee "$OUT/mematte.txt"
timeout 90 python3 bench/gpu_sam2_graph.py /tmp/w/sam2_l.pt /tmp/w/MEMatte_ViTS_DIM.pth 2>&1 | tee "$OUT/sam2_graph.txt"
timeout 230 python3 bench/throughput.py --frames 20 --baseline 0fe0c46 --baseline-dir .baseline --device cuda \
  --precision fp16 --backends sam2:mematte $W 2>&1 | tee "$OUT/throughput_sam2.txt"
