"""MEMatte refinement cost: tiled vs the padded full frame, tile-size sweep, temporal reuse.

    python bench/mematte_tiling.py [--sections sweep full reuse 8k] [--threads 2]

Generated weights (random init in the real checkpoint format; compute does not depend
on the values, except how many tokens the router sends to global attention, which is
reported). A synthetic plate with a figure whose trimap band covers ~7 % of the pixels.
Each measurement runs in a fresh process; its peak RSS is that process's ru_maxrss.
Markdown tables go to stdout, raw alphas to bench/results/ for the difference columns.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
UNKNOWN_FRACTION = 0.07


def scene(width: int, height: int, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame `t` of a slow clip: a static figure, a small blob (a hand) moving 4 px/frame at 1080
    lines, per-frame grain. Returns (float32 RGB image, uint8 trimap 0/128/255)."""
    scale = height / 1080
    rng = np.random.default_rng(t)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) / scale
    background = np.stack([0.3 + 0.1 * np.sin(xs / 23), 0.4 + 0.1 * np.cos(ys / 31), 0.5 + 0.05 * np.sin((xs + ys) / 17)], -1)
    body = ((xs - 960) / 300) ** 2 + ((ys - 600) / 420) ** 2 <= 1.0
    wave = (np.hypot(xs - 960, ys - 600) < 460) & (np.sin(np.arctan2(ys - 600, xs - 960) * 60) > 0.6)
    hand = np.hypot(xs - (1400 + 4 * t), ys - 500) < 70
    mask = (body | wave | hand).astype(np.uint8)
    fg = np.stack([0.8 + 0.1 * np.sin(xs / 7), 0.6 + 0.1 * np.cos(ys / 5), 0.5 * np.ones_like(xs)], -1)
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 2 * scale)[..., None]
    image = (soft * fg + (1 - soft) * background + rng.normal(0, 0.002, (height, width, 1))).astype(np.float32)
    dist_in = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    dist_out = cv2.distanceTransform(1 - mask, cv2.DIST_L2, 5)
    edge = np.minimum(dist_in + (mask == 0) * 1e9, dist_out + (mask == 1) * 1e9)
    radius = np.quantile(edge, UNKNOWN_FRACTION)  # band half-width giving ~7 % unknown pixels
    trimap = np.where(edge <= radius, 128, np.where(mask == 1, 255, 0)).astype(np.uint8)
    return np.clip(image, 0, 1), trimap


def scene_file(width: int, height: int, t: int) -> Path:
    """Scenes are made (and cached) by the parent, so the child's peak RSS is the refinement's alone."""
    path = RESULTS / "scenes" / f"{width}x{height}_{t}.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        image, trimap = scene(width, height, t)
        np.savez(path, image=image, trimap=trimap)
    return path


def checkpoint() -> Path:
    path = RESULTS / "generated" / "MEMatte_ViTS_DIM.pth"
    if not path.exists():
        import torch

        from videomatte_hq.refine.mematte.model import MEMatte

        torch.manual_seed(0)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"model": MEMatte().state_dict()}, path)
    return path


def measure_one(spec: dict) -> dict:
    """Runs inside the child process."""
    import torch

    from videomatte_hq.config import build_config
    from videomatte_hq.refine.mematte.backend import MEMatteBackend
    from videomatte_hq.io.colour import image_to_u8
    from videomatte_hq.refine.tiling import FrameMemory, TiledRefiner
    from videomatte_hq.layout import quantize
    from videomatte_hq.trimap import trimap_to_unit

    torch.set_num_threads(spec["threads"])
    config = build_config(overrides={"mematte_checkpoint": spec["checkpoint"], "allow_external_paths": True,
                                     "device": "cpu"})
    backend = MEMatteBackend(config, print)
    routed = {"kept": 0, "total": 0}
    vit = backend.model.backbone
    decide = vit.keep_decision

    def counting(scores):
        keep = decide(scores)
        routed["kept"] += int(keep.sum())
        routed["total"] += keep.numel()
        return keep

    vit.keep_decision = counting
    alphas, refined, skipped, seconds = [], 0, 0, 0.0
    memory = None
    refiner = TiledRefiner(backend, spec.get("tile", 480), spec.get("overlap", 64), 4, spec.get("reuse", False),
                           0.98, 0.004)
    for t in range(len(spec["scenes"])):
        with np.load(spec["scenes"][t]) as data:
            image, trimap = data["image"], data["trimap"]
        t0 = time.perf_counter()
        if spec["mode"] == "full":
            alpha = backend.refine([image], [trimap_to_unit(trimap)])[0]
            n, s = 1, 0
        else:
            image_u8 = image_to_u8(image)
            alpha, n, s = refiner.refine_frame(image, image_u8, trimap, memory)
            alpha = quantize(alpha, "png16").values  # what the pipeline writes and reuse copies
            memory = FrameMemory(image_u8, trimap, alpha) if spec.get("reuse") else None
        seconds += time.perf_counter() - t0
        refined, skipped = refined + n, skipped + s
        alphas.append(alpha)
    if spec.get("save"):
        np.save(RESULTS / spec["save"], np.stack(alphas))
    return {"seconds": seconds, "refined": refined, "skipped": skipped,
            "routed": routed["kept"] / max(routed["total"], 1),
            "unknown": float((trimap == 128).mean())}


def measure(spec: dict) -> dict:
    spec["scenes"] = [str(scene_file(*spec["size"], t)) for t in range(spec.get("frames", 1))]
    proc = subprocess.Popen([sys.executable, __file__, "--one", json.dumps(spec)], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"measurement failed: {spec}")
    result = json.loads(out.strip().splitlines()[-1])
    result["rss_gib"] = usage.ru_maxrss / 1024 ** 2
    return result


def band_diff(a: str, b: str) -> tuple[float, float]:
    """(max, mean) |alpha difference| over the unknown band of two saved runs."""
    x, y = np.load(RESULTS / a), np.load(RESULTS / b)
    d = np.abs(x - y)[:, (x[0] > 0) & (x[0] < 1) | (y[0] > 0) & (y[0] < 1)]
    return float(d.max()), float(d.mean())


def row(label: str, size: tuple[int, int], r: dict, extra: str = "") -> str:
    return (f"| {label} | {size[0]}x{size[1]} | {r['seconds']:.1f} | {r['rss_gib']:.2f} | {r['refined']} "
            f"| {r['routed']:.0%} |{extra}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--sections", nargs="+", default=["sweep", "full", "reuse", "8k"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tile", type=int, default=480, help="tile size for the full/reuse/8k sections")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(json.loads(args.one))))
        return
    RESULTS.mkdir(exist_ok=True)
    base = {"checkpoint": str(checkpoint()), "threads": args.threads}
    hd, uhd = (1920, 1080), (3840, 2160)
    header = "| run | size | seconds | peak RSS GiB | tiles | routed |"
    if "sweep" in args.sections:
        print("\n### Tile size at 1920x1080 (overlap 64)\n\n" + header + "\n|---|---|---:|---:|---:|---:|")
        for tile in (256, 448, 480, 512, 736, 992):
            print(row(f"tile {tile}", hd, measure({**base, "mode": "tiled", "size": hd, "tile": tile})), flush=True)
    if "full" in args.sections:
        print("\n### Tiled vs full frame\n\n" + header + " speed-up | band diff max / mean |"
              "\n|---|---|---:|---:|---:|---:|---:|---|")
        for size, name in ((hd, "1080"), (uhd, "2160")):
            tiled = measure({**base, "mode": "tiled", "size": size, "tile": args.tile, "save": f"tiled_{name}.npy"})
            full = measure({**base, "mode": "full", "size": size, "save": f"full_{name}.npy"})
            dmax, dmean = band_diff(f"tiled_{name}.npy", f"full_{name}.npy")
            print(row("full frame (padded)", size, full, " 1.0× | – |"))
            print(row(f"tiled {args.tile}/64", size, tiled,
                      f" {full['seconds'] / tiled['seconds']:.1f}× | {dmax:.3f} / {dmean:.4f} |"), flush=True)
    if "reuse" in args.sections:
        print("\n### Temporal reuse, 8 frames 1920x1080, slow clip\n\n"
              "| run | seconds | tiles refined | tiles reused | peak RSS GiB | speed-up | band diff max / mean |"
              "\n|---|---:|---:|---:|---:|---:|---|")
        clip = {**base, "mode": "tiled", "size": hd, "tile": args.tile, "frames": 8}
        off = measure({**clip, "reuse": False, "save": "reuse_off.npy"})
        on = measure({**clip, "reuse": True, "save": "reuse_on.npy"})
        dmax, dmean = band_diff("reuse_on.npy", "reuse_off.npy")
        for label, r, extra in (("reuse off", off, "1.0× | – |"),
                                ("reuse on (IoU 0.98, delta 0.004)", on,
                                 f"{off['seconds'] / on['seconds']:.1f}× | {dmax:.3f} / {dmean:.4f} |")):
            print(f"| {label} | {r['seconds']:.1f} | {r['refined']} | {r['skipped']} | {r['rss_gib']:.2f} | {extra}")
    if "8k" in args.sections:
        size = (7680, 4320)
        print("\n### 8K\n\n" + header + "\n|---|---|---:|---:|---:|---:|")
        print(row(f"tiled {args.tile}/64", size, measure({**base, "mode": "tiled", "size": size, "tile": args.tile})))


if __name__ == "__main__":
    main()
