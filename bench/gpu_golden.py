"""The MEMatte golden cases on the GPU: alpha and keep decisions vs the official float64 outputs, per precision
(fp64, true fp32 as the engine sets it, fp32 with torch's TF32 defaults, fp16 and bf16 autocast).

    PYTHONPATH=engine:tests python bench/gpu_golden.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "engine"), str(ROOT / "tests")]

from mematte_rule import rule_state_dict  # noqa: E402
from videomatte_hq import torch_device  # noqa: E402
from videomatte_hq.refine.mematte.model import MEMatte, postprocess  # noqa: E402

GOLDEN = ROOT / "tests" / "golden" / "mematte_vits"


def run(case, weights, mode: str) -> tuple[float, bool]:
    dev = torch.device("cuda")
    dtype = torch.float64 if mode == "fp64" else torch.float32
    precision = {"fp64": "fp32", "fp32": "fp32", "fp32-tf32": "fp16", "fp16": "fp16", "bf16": "bf16"}[mode]
    torch_device.resolve("cuda", precision, print)  # sets TF32 as a run would (fp32-tf32: torch's defaults)
    model = MEMatte().to(dtype)
    model.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v for k, v in weights.items()})
    model = model.eval().to(dev)
    image = torch.from_numpy(case["image"]).permute(2, 0, 1)[None].to(dev, dtype)
    trimap = torch.from_numpy(case["trimap"])[None, None].to(dev, dtype)
    trace: dict = {}
    autocast = torch_device.autocast(dev, mode if mode in ("fp16", "bf16") else "fp32")
    with torch.no_grad(), autocast:
        alpha = postprocess(model(image, trimap, trace).to(dtype), trimap)
    keep = np.stack([k[0].cpu().numpy() for k in trace["keep"]]).astype(np.uint8)
    return float(np.abs(alpha[0, 0].double().cpu().numpy() - case["alpha_f64"]).max()), \
        bool(np.array_equal(keep, case["keep_decision"]))


def main() -> None:
    weights = rule_state_dict()
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}\n")
    print("| case | mode | alpha max diff vs official fp64 | keep decisions equal | limit |")
    print("|---|---|---:|---|---|")
    limits = {"fp64": 1e-9, "fp32": 1e-4}
    failed = False
    for path in sorted(GOLDEN.glob("case_*.npz")):
        case = np.load(path)
        for mode in ("fp64", "fp32", "fp32-tf32", "fp16", "bf16"):
            diff, keep = run(case, weights, mode)
            limit = limits.get(mode)
            ok = limit is None or (diff <= limit and keep)
            failed |= not ok
            print(f"| {path.stem} | {mode} | {diff:.2e} | {keep} | {limit or '-'}{'' if ok else ' FAILED'} |")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
