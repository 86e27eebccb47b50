"""MEMatte side by side with the official code: the official model vs ours full frame vs ours tiled.

    python bench/vs_official.py [--official DIR] [--deps DIR] [--clip ../shared/bench/public/hair_pan]
                                [--frame N] [--scale 2] [--threads 2]

The official source (github.com/linyiheng123/MEMatte) is cloned into bench/results/official/ unless --official
names a checkout; it is built from its own config file and `modeling/` package as its `inference.py` does
(LazyConfig.load, teacher dropped, max_number_token 18500, instantiate, eval, DetectionCheckpointer.load, the
forward with patch_decoder=True, known regions forced to 0/1), over the detectron2 stand-in in
bench/official_shim/ (detectron2 is not on PyPI). Its other dependencies go into a side folder (--deps,
default .cache/official-deps, made with `pip install --target`). Both models get the same weights, made by the
golden data's rule (tests/mematte_rule.py) in the official checkpoint format, and the same input: one frame of a
public benchmark clip scaled to 1080 lines (its 8-bit sRGB plate; the trimap from its ground truth: unknown
where 0 < alpha < 1, dilated 10 px at 1080 lines, values 0 / 0.5 / 1). Each model runs in a fresh process
(seconds for the forward, the build and load apart; peak RSS from wait4). Prints a markdown table with the
alpha differences to the official alpha (whole frame and unknown band).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "vs_official"
REPOSITORY = "https://github.com/linyiheng123/MEMatte"
CONFIG = "configs/MEMatte_S_topk0.25_win_global_long.py"
DEPS = ["fvcore", "iopath", "yacs", "termcolor", "tabulate", "portalocker", "fairscale", "timm", "einops",
        "omegaconf", "antlr4-python3-runtime==4.9.3", "easydict", "tqdm", "pyyaml"]
MAX_TOKENS = 18500


def official(spec: dict) -> np.ndarray:
    sys.path[:0] = [spec["official"], str(ROOT / "bench" / "official_shim"), spec["deps"]]
    import torch
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.config import LazyConfig, instantiate

    cfg = LazyConfig.load(Path(spec["official"]) / CONFIG)
    cfg.model.teacher_backbone = None
    cfg.model.backbone.max_number_token = MAX_TOKENS
    model = instantiate(cfg.model)
    model.to("cpu")
    model.eval()
    DetectionCheckpointer(model).load(spec["checkpoint"])
    with np.load(spec["input"]) as data:
        image, trimap = torch.from_numpy(data["image"]), torch.from_numpy(data["trimap"])
    batch = {"image": image.permute(2, 0, 1)[None], "trimap": trimap[None, None]}
    started = time.perf_counter()
    with torch.no_grad():
        output, _, _ = model(batch, patch_decoder=True)
    alpha = output["phas"].flatten(0, 2)
    alpha[trimap == 0] = 0
    alpha[trimap == 1] = 1
    return alpha.numpy(), time.perf_counter() - started


def ours(spec: dict, mode: str) -> np.ndarray:
    sys.path.insert(0, str(ROOT / "engine"))
    from videomatte_hq.config import build_config
    from videomatte_hq.io.colour import image_to_u8
    from videomatte_hq.refine.mematte.backend import MEMatteBackend
    from videomatte_hq.refine.tiling import TiledRefiner
    from videomatte_hq.trimap import BG, FG, UNKNOWN

    config = build_config(overrides={"mematte_checkpoint": spec["checkpoint"], "allow_external_paths": True,
                                     "device": "cpu", "threads": spec["threads"]})
    backend = MEMatteBackend(config, print)
    with np.load(spec["input"]) as data:
        image, trimap = data["image"], data["trimap"]
    started = time.perf_counter()
    if mode == "full":
        alpha = backend.refine([image], [trimap])[0]
    else:
        codes = np.where(trimap == 0, BG, np.where(trimap == 1, FG, UNKNOWN)).astype(np.uint8)
        alpha = TiledRefiner(backend, backend.default_tile, backend.default_overlap, backend.default_batch,
                             False, 1.0, 0.0).refine_frame(image, image_to_u8(image), codes, None)[0]
    return alpha, time.perf_counter() - started


def child(mode: str, spec: dict) -> None:
    import torch

    torch.set_num_threads(spec["threads"])
    alpha, seconds = official(spec) if mode == "official" else ours(spec, mode)
    np.save(RESULTS / f"alpha_{mode}.npy", np.asarray(alpha, np.float32))
    print(json.dumps({"seconds": seconds}))


def measure(mode: str, spec: dict) -> dict:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", mode, json.dumps(spec)], stdout=subprocess.PIPE,
                            text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the {mode} run failed")
    return {**json.loads(out.strip().splitlines()[-1]), "process_s": time.perf_counter() - started,
            "rss_gib": usage.ru_maxrss / 1024 ** 2}


def prepare(args) -> dict:
    import cv2
    import torch

    sys.path[:0] = [str(ROOT / "engine"), str(ROOT / "tests")]
    from mematte_rule import rule_state_dict
    from videomatte_hq.io.images import read_image

    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.official:
        args.official = RESULTS.parent / "official" / "MEMatte"
        if not args.official.exists():
            subprocess.run(["git", "clone", "--depth", "1", REPOSITORY, str(args.official)], check=True)
    if not args.deps.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(args.deps),
                        *DEPS], check=True)
    checkpoint = RESULTS / "MEMatte_ViTS_rule.pth"
    if not checkpoint.exists():
        torch.save({"model": {k: v.float() if v.is_floating_point() else v for k, v in rule_state_dict().items()}},
                   checkpoint)
    meta = json.loads((args.clip / "clip.json").read_text())
    frame = args.frame if args.frame is not None else meta["frames"][len(meta["frames"]) // 2]
    plate = read_image(args.clip / "plate_png" / f"{frame:04d}.png")[0][..., :3]
    truth = read_image(args.clip / "alpha_gt" / f"{frame:04d}.png")[0][..., 0]
    h, w = truth.shape
    size = (w * args.scale, h * args.scale)
    image = np.clip(cv2.resize(plate, size, interpolation=cv2.INTER_CUBIC), 0, 1).astype(np.float32)
    truth = cv2.resize(truth, size, interpolation=cv2.INTER_LINEAR)
    soft = ((truth > 0) & (truth < 1)).astype(np.uint8)
    radius = round(10 * size[1] / 1080)
    band = cv2.dilate(soft, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))) > 0
    trimap = np.where(band, 0.5, np.where(truth >= 0.5, 1.0, 0.0)).astype(np.float32)
    path = RESULTS / "input.npz"
    np.savez(path, image=image, trimap=trimap)
    return {"official": str(Path(args.official).resolve()), "deps": str(args.deps.resolve()),
            "checkpoint": str(checkpoint), "input": str(path), "threads": args.threads,
            "label": f"{args.clip.name} frame {frame}, {size[0]}x{size[1]}", "unknown": float(band.mean())}


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        return child(sys.argv[2], json.loads(sys.argv[3]))
    parser = argparse.ArgumentParser()
    parser.add_argument("--official", type=Path, help="a checkout of the official MEMatte repository")
    parser.add_argument("--deps", type=Path, default=ROOT / ".cache" / "official-deps")
    parser.add_argument("--clip", type=Path, default=ROOT.parent / "shared" / "bench" / "public" / "hair_pan")
    parser.add_argument("--frame", type=int)
    parser.add_argument("--scale", type=int, default=2, help="the clip's frame scaled up by this (540 -> 1080)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    spec = prepare(args)
    rows = {mode: measure(mode, spec) for mode in ("official", "full", "tiled")}
    alphas = {mode: np.load(RESULTS / f"alpha_{mode}.npy") for mode in rows}
    band = np.load(spec["input"])["trimap"] == 0.5
    print(f"\n{spec['label']}, unknown band {spec['unknown']:.1%}, CPU {args.threads} threads, fp32, "
          f"weights by the golden rule\n")
    print("| model | forward s | process s | peak RSS GiB | alpha diff to official, max / mean (band) |")
    print("|---|---:|---:|---:|---|")
    names = {"official": "official MEMatte (its inference.py path)", "full": "ours, full frame",
             "tiled": "ours, tiled 480/64"}
    for mode, row in rows.items():
        diff = np.abs(alphas[mode] - alphas["official"])
        cell = "–" if mode == "official" else f"{diff.max():.2e} / {diff[band].mean():.2e}"
        print(f"| {names[mode]} | {row['seconds']:.1f} | {row['process_s']:.1f} | {row['rss_gib']:.2f} | {cell} |")
    (RESULTS / "vs_official.json").write_text(json.dumps({"spec": spec, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
