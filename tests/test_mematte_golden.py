"""MEMatte ViT-S equals the official code: golden intermediates and outputs for rule-generated weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import GOLDEN
from mematte_rule import rule_state_dict
from videomatte_hq.refine.mematte.model import MEMatte, postprocess
from videomatte_hq.refine.mematte.weights import load_mematte

MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())
CASES = sorted(GOLDEN.glob("case_*.npz"))


@pytest.fixture(scope="module")
def rule_weights() -> dict[str, torch.Tensor]:
    weights = rule_state_dict()
    for key, (total, abs_total, first) in MANIFEST["weight_checksums_f64"]["values"].items():
        w = weights[key]
        assert np.isclose(float(w.sum()), total, rtol=1e-12, atol=1e-9), key
        assert np.isclose(float(w.abs().sum()), abs_total, rtol=1e-12), key
        assert float(w.flatten()[0]) == first, key
    return weights


def _model(weights, dtype, max_number_token=18500) -> MEMatte:
    model = MEMatte(max_number_token=max_number_token).to(dtype)  # cast first: loading keeps the param dtype
    model.load_state_dict(weights, strict=True)
    return model.eval()


def test_state_dict_matches_manifest_exactly():
    model = MEMatte()
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: shape for k, shape, _ in MANIFEST["state_dict"]}
    assert ours == theirs
    assert list(ours) == list(theirs), "same key order as the official state dict"
    assert sum(p.numel() for p in model.parameters()) == MANIFEST["num_parameters"]


def test_strict_load_of_official_checkpoint_layout(tmp_path, rule_weights):
    """A training-style file: wrapped in 'model', 'module.' prefixes, teacher keys to drop."""
    state = {f"module.{k}": v.float() for k, v in rule_weights.items()}
    state.update({f"module.teacher_backbone.blocks.0.norm1.{p}": torch.zeros(384) for p in ("weight", "bias")})
    path = tmp_path / "MEMatte_ViTS_DIM.pth"
    torch.save({"model": state, "iteration": 1}, path)
    model, report = load_mematte(path)
    assert report.wrapped and report.stripped_module_prefix
    assert report.dropped == ["teacher_backbone.blocks.0.norm1.bias", "teacher_backbone.blocks.0.norm1.weight"]
    assert torch.equal(model.state_dict()["backbone.pos_embed"], rule_weights["backbone.pos_embed"].float())


def test_mismatched_checkpoint_is_a_clear_error(tmp_path, rule_weights):
    from videomatte_hq.errors import ModelFileError

    state = {k: v.float() for k, v in rule_weights.items() if "routers.3" not in k}
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ModelFileError, match="missing keys"):
        load_mematte(path)


def _inputs(case, dtype):
    image = torch.from_numpy(case["image"]).permute(2, 0, 1)[None].to(dtype)
    trimap = torch.from_numpy(case["trimap"])[None, None].to(dtype)
    return image, trimap


@pytest.mark.parametrize("case_path", CASES, ids=[c.stem for c in CASES])
def test_float64_equals_official(case_path, rule_weights):
    case = np.load(case_path)
    model = _model(rule_weights, torch.float64)
    image, trimap = _inputs(case, torch.float64)
    trace: dict = {}
    with torch.no_grad():
        raw = model(image, trimap, trace)
    alpha = postprocess(raw, trimap)
    # Debug order of the golden README: input, embedding, blocks, routers, features, alpha.
    assert np.abs(trace["backbone_input"].numpy() - case["backbone_input_f32"]).max() < 1e-6
    assert np.abs(trace["patch_embed"].numpy() - case["patch_embed_out_f32"]).max() < 1e-4
    assert np.abs(trace["abs_pos"].numpy() - case["abs_pos_resized_f64"]).max() < 1e-12
    for i, block in enumerate(trace["blocks"]):
        assert np.abs(block.numpy() - case[f"block{i:02d}_out_f32"]).max() < 1e-3, f"block {i}"
    keep = np.stack([k[0].numpy() for k in trace["keep"]]).astype(np.uint8)
    assert np.array_equal(keep, case["keep_decision"])
    scores = np.stack([s[0].numpy() for s in trace["router_scores"]])
    assert np.abs(scores - case["router_scores_f64"]).max() < 1e-9
    assert np.abs(trace["features"].numpy() - case["backbone_features_f64"]).max() < 1e-9
    assert np.abs(raw[0, 0].numpy() - case["alpha_raw_f64"]).max() <= 1e-9
    assert np.abs(alpha[0, 0].numpy() - case["alpha_f64"]).max() <= 1e-9
    png = np.floor(alpha[0, 0].numpy() * 255).astype(np.uint8)
    assert np.array_equal(png, case["alpha_png_u8"])


@pytest.mark.parametrize("case_path", CASES, ids=[c.stem for c in CASES])
def test_float32_within_tolerance(case_path, rule_weights):
    case = np.load(case_path)
    model = _model({k: v.float() if v.is_floating_point() else v for k, v in rule_weights.items()}, torch.float32)
    image, trimap = _inputs(case, torch.float32)
    trace: dict = {}
    with torch.no_grad():
        raw = model(image, trimap, trace)
    keep = np.stack([k[0].numpy() for k in trace["keep"]]).astype(np.uint8)
    assert np.array_equal(keep, case["keep_decision"])
    assert np.abs(trace["features"].numpy() - case["backbone_features_f64"]).max() <= 1e-3
    assert np.abs(raw[0, 0].numpy() - case["alpha_raw_f64"]).max() <= 1e-4
    assert np.abs(postprocess(raw, trimap)[0, 0].numpy() - case["alpha_f64"]).max() <= 1e-4


def test_token_cap_variant(rule_weights):
    case = np.load(GOLDEN / "case_a.npz")
    model = _model(rule_weights, torch.float64, max_number_token=16)
    image, trimap = _inputs(case, torch.float64)
    trace: dict = {}
    with torch.no_grad():
        alpha = postprocess(model(image, trimap, trace), trimap)
    keep = np.stack([k[0].numpy() for k in trace["keep"]]).astype(np.uint8)
    assert np.array_equal(keep, case["keep_decision_max_number_token_16"])
    assert np.abs(alpha[0, 0].numpy() - case["alpha_max_number_token_16_f64"]).max() <= 1e-9


def test_batch_equals_one_by_one(rule_weights):
    """Unlike the official gather, a batch of different tiles gives each tile's single-image result."""
    case = np.load(GOLDEN / "case_a.npz")
    model = _model(rule_weights, torch.float64)
    image, trimap = _inputs(case, torch.float64)
    flipped_image, flipped_trimap = image.flip(-1), trimap.flip(-1)
    with torch.no_grad():
        batch = model(torch.cat([image, flipped_image]), torch.cat([trimap, flipped_trimap]))
        one = model(image, trimap)
        two = model(flipped_image, flipped_trimap)
    assert torch.allclose(batch[0], one[0], atol=1e-12) and torch.allclose(batch[1], two[0], atol=1e-12)


def test_routed_block_batch_with_unequal_kept_tokens():
    """A routed block's global attention over a batch whose images keep different numbers of tokens (none, some,
    all) equals each image's kept tokens attending among themselves alone."""
    from videomatte_hq.refine.mematte.model import Block

    torch.manual_seed(0)
    block = Block(32, 4, 0, routed=True).double().eval()
    x = torch.randn(3, 4, 5, 32, dtype=torch.float64)
    keep = torch.zeros(3, 20, dtype=torch.bool)
    keep[1, [0, 3, 4, 11, 19]] = True
    keep[2] = True
    with torch.no_grad():
        batch = block(x, keep)
        for i in range(3):
            tokens = x[i].reshape(20, 32)
            msa = block.efficient_block(x[i:i + 1]).reshape(20, 32)
            if keep[i].any():
                msa[keep[i]] = block.attn(block.norm1(tokens[keep[i]][None]))[0]
            y = x[i:i + 1] + msa.reshape(1, 4, 5, 32)
            y = y + block.mlp(block.norm2(y))
            alone = block.residual(y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
            assert torch.allclose(batch[i:i + 1], alone, atol=1e-12), f"image {i}"


def test_decoder_patches_grouped_equal_one_by_one():
    """The decoder's patches, run in groups of one crop shape, give what each patch run alone gives (small
    patches so that a frame has many, of several crop shapes, split over several calls)."""
    torch.manual_seed(1)
    model = MEMatte().double().eval()
    model.DECODER_PATCH, model.DECODER_CONTEXT, model.DECODER_BATCH = 64, 16, 6
    images = torch.rand(2, 4, 200, 300, dtype=torch.float64)
    features = torch.randn(2, 384, 13, 19, dtype=torch.float64)
    with torch.no_grad():
        grouped = model.patch_decode(features, images)
        padded_images = torch.nn.functional.pad(images, (0, 20, 0, 56))  # the 64 px canvas: 256 x 320
        padded_features = torch.nn.functional.pad(features, (0, 1, 0, 3))
        for top in range(0, 256, 64):
            for left in range(0, 320, 64):
                y0, x0, y1, x1 = max(top - 16, 0), max(left - 16, 0), min(top + 80, 256), min(left + 80, 320)
                alone = model.decoder(padded_features[:, :, y0 // 16:y1 // 16, x0 // 16:x1 // 16],
                                      padded_images[:, :, y0:y1, x0:x1])[:, :, top - y0:top - y0 + 64,
                                                                            left - x0:left - x0 + 64]
                expected = alone[:, :, :200 - top, :300 - left]
                got = grouped[:, :, top:top + 64, left:left + 64]
                assert torch.allclose(got, expected, atol=1e-12), (top, left)


def test_token_cap_per_image_in_a_batch():
    """The router's cap applies image by image: one above it keeps its largest margins, ones below keep theirs."""
    from videomatte_hq.refine.mematte.model import ViT

    vit = ViT(depth=1, window_blocks=(), max_number_token=10)
    scores = torch.randn(3, 50, 2, generator=torch.Generator().manual_seed(3))
    scores[1, :, 0] -= 1.5  # few kept tokens
    scores[2, :, 0] = scores[2, :, 1] - 1  # none
    keep = vit.keep_decision(scores)
    margin = scores[..., 0] - scores[..., 1]
    assert int((margin[0] > 0).sum()) > 10 and 0 < int((margin[1] > 0).sum()) <= 10
    top = torch.zeros(50, dtype=torch.bool)
    top[torch.sort(margin[0], descending=True)[1][:10]] = True
    assert torch.equal(keep[0], top) and torch.equal(keep[1], margin[1] > 0) and not keep[2].any()
