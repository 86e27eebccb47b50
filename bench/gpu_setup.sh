# Sourced by the bench/gpu_session*.sh scripts (device tool, run from the checkout's root): the packages the
# device lacks (carried in .whl: the device tool's README), the environment, and generated weights in /tmp/w
# ($W: the throughput options that use them and the shot's folder).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 YOLO_OFFLINE=1 NUMBA_CACHE_DIR=/tmp/numba
timeout 80 python3 bench/make_weights.py /tmp/w 2>&1 | tail -2
W="--sam-model /tmp/w/sam2_l.pt --mematte-checkpoint /tmp/w/MEMatte_ViTS_DIM.pth --shot /tmp/shot"
