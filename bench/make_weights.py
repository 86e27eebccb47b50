"""Generated weights in the real file formats, for benchmarks where the real checkpoints cannot be had:
MEMatte_ViTS_DIM.pth by the golden weight rule (tests/mematte_rule.py) and an ultralytics sam2_l.pt built by
ultralytics with random init, its object-score head biased so the subject is never "lost" (all-unknown trimaps:
the heaviest refine load).

    PYTHONPATH=engine:tests python bench/make_weights.py OUT_DIR
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "engine"), str(ROOT / "tests")]


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    from videomatte_hq.ultralytics_models import configure_offline

    configure_offline()
    import torch
    from mematte_rule import rule_state_dict
    from ultralytics.models.sam.build import build_sam2_l

    torch.save({"model": {k: v.float() if v.is_floating_point() else v for k, v in rule_state_dict().items()}},
               out / "MEMatte_ViTS_DIM.pth")
    torch.manual_seed(0)
    state = {k: v.half() if v.is_floating_point() else v for k, v in build_sam2_l(checkpoint=None).state_dict().items()}
    key = "sam_mask_decoder.pred_obj_score_head.layers.2.bias"
    state[key] = torch.full_like(state[key], 20.0)
    torch.save({"model": state}, out / "sam2_l.pt")
    for name in ("MEMatte_ViTS_DIM.pth", "sam2_l.pt"):
        print(name, os.path.getsize(out / name) // (1 << 20), "MiB")


if __name__ == "__main__":
    main()
