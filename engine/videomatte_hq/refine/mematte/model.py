"""MEMatte ViT-S: ViTDet-style backbone with token routers + ViTMatte detail-capture decoder.

A detectron2-free re-implementation of the official inference path
(github.com/linyiheng123/MEMatte, MIT), proven equal to it by tests/test_mematte_golden.py
against ../shared/golden/mematte_vits. Parameter names match the official state dict.

Differences from the official code, on purpose: the router's token gather works per
image, so a batch of tiles gives the same result as running them one by one (the
official gather is only valid for batch size 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PIXEL_MEAN = (123.675 / 255, 116.28 / 255, 103.53 / 255)
PIXEL_STD = (58.395 / 255, 57.12 / 255, 57.375 / 255)


# --- backbone pieces ------------------------------------------------------------------------------------------


def get_rel_pos(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Relative position table rows for every (query, key) offset (ViTDet/MViTv2)."""
    max_rel_dist = 2 * max(q_size, k_size) - 1
    if rel_pos.shape[0] != max_rel_dist:
        rel_pos = F.interpolate(rel_pos.reshape(1, rel_pos.shape[0], -1).permute(0, 2, 1), size=max_rel_dist,
                                mode="linear").reshape(-1, max_rel_dist).permute(1, 0)
    q_coords = torch.arange(q_size, device=rel_pos.device)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size, device=rel_pos.device)[None, :] * max(q_size / k_size, 1.0)
    relative = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return rel_pos[relative.long()]


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, rel_pos_size: int | None = None) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)
        self.use_rel_pos = rel_pos_size is not None
        if self.use_rel_pos:
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * rel_pos_size - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * rel_pos_size - 1, head_dim))

    def forward(self, x: torch.Tensor, hw: tuple[int, int] | None = None,
                key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, N, C); `hw` is the window's grid when rel-pos applies; `key_mask` (B, N) bool: the keys each
        image's queries may attend to (the others get no weight)."""
        b, n, _ = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        if not self.use_rel_pos:
            # Global attention: torch's fused kernels (the same softmax(q k^T / sqrt(d)) v) never hold the
            # n x n weights, which the masked batches of tiles and a full 4K frame's 18,500 tokens made large.
            mask = None if key_mask is None else key_mask[:, None, None, :]
            out = F.scaled_dot_product_attention(*qkv.unbind(0), attn_mask=mask, scale=self.scale)
            return self.proj(out.permute(0, 2, 1, 3).reshape(b, n, -1))
        q, k, v = qkv.reshape(3, b * self.num_heads, n, -1).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        h, w = hw
        rh = get_rel_pos(h, h, self.rel_pos_h)
        rw = get_rel_pos(w, w, self.rel_pos_w)
        r_q = q.reshape(-1, h, w, q.shape[-1])  # the unscaled q, as in ViTDet
        rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, rh)
        rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, rw)
        attn = (attn.view(-1, h, w, h, w) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]).view(-1, n, n)
        attn = attn.softmax(dim=-1)
        out = (attn @ v).view(b, self.num_heads, n, -1).permute(0, 2, 1, 3).reshape(b, n, -1)
        return self.proj(out)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class LayerNorm2d(nn.Module):
    """Channels-first LayerNorm as detectron2's (mean/var over C)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        return self.weight[:, None, None] * ((x - u) / torch.sqrt(s + self.eps)) + self.bias[:, None, None]


class ResBottleneck(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        half = dim // 2
        self.conv1 = nn.Conv2d(dim, half, 1, bias=False)
        self.norm1 = LayerNorm2d(half)
        self.conv2 = nn.Conv2d(half, half, 3, padding=1, bias=False)
        self.norm2 = LayerNorm2d(half)
        self.conv3 = nn.Conv2d(half, dim, 1, bias=False)
        self.norm3 = LayerNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.gelu(self.norm1(self.conv1(x)))
        out = F.gelu(self.norm2(self.conv2(out)))
        return x + self.norm3(self.conv3(out))


class ECA(nn.Module):
    def __init__(self, kernel: int = 5) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> x scaled by a per-channel gate."""
        y = x.mean(dim=(2, 3), keepdim=True)  # AdaptiveAvgPool2d(1)
        y = self.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return x * torch.sigmoid(y)


class LTRM(nn.Module):
    """Lightweight token refinement: what every token gets instead of (or before) global attention."""

    def __init__(self, dim: int, expand: int = 2, kernel: int = 5) -> None:
        super().__init__()
        hidden = dim * expand
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, kernel, padding=kernel // 2, groups=hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.eca = ECA()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.fc1(x))
        x = F.gelu(self.dwconv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))
        x = self.fc2(x)
        return x + self.eca(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class Router(nn.Module):
    """Per-token log-probabilities (keep for global attention, send to LTRM), local + global context."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.in_conv = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU())  # default eps 1e-5
        self.out_conv = nn.Sequential(nn.Linear(dim, dim // 2), nn.GELU(), nn.Linear(dim // 2, dim // 4), nn.GELU(),
                                      nn.Linear(dim // 4, 2), nn.LogSoftmax(dim=-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.in_conv(x)
        b, n, c = x.shape
        global_x = x[:, :, c // 2:].sum(dim=1, keepdim=True) / n
        return self.out_conv(torch.cat([x[:, :, : c // 2], global_x.expand(b, n, c // 2)], dim=-1))


def window_partition(x: torch.Tensor, size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    b, h, w, c = x.shape
    pad_h, pad_w = (size - h % size) % size, (size - w % size) % size
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // size, size, wp // size, size, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, size, size, c), (hp, wp)


def window_unpartition(windows: torch.Tensor, size: int, padded: tuple[int, int], hw: tuple[int, int]) -> torch.Tensor:
    hp, wp = padded
    b = windows.shape[0] // (hp * wp // size // size)
    x = windows.view(b, hp // size, wp // size, size, size, -1).permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    return x[:, : hw[0], : hw[1], :]


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, routed: bool) -> None:
        super().__init__()
        self.window = window
        self.routed = routed
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, rel_pos_size=window if window else None)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * 4)
        if routed:
            self.efficient_block = LTRM(dim)
            self.residual = ResBottleneck(dim)

    def _window_attention(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[1:3]
        windows, padded = window_partition(self.norm1(x), self.window)  # zero padding after norm1, unmasked
        n = self.window * self.window
        out = self.attn(windows.reshape(-1, n, windows.shape[-1]), (self.window, self.window))
        return window_unpartition(out.view(-1, self.window, self.window, out.shape[-1]), self.window, padded, (h, w))

    def _global_attention(self, tokens: torch.Tensor, keep: torch.Tensor, out: torch.Tensor) -> None:
        """Each image's kept tokens attend only among themselves; their results replace theirs in `out`.

        The kept tokens are gathered to the front of a (B, n, C) batch in token order (n: the most any image
        kept), the padding masked out of the keys and left out of the scatter back: all images in one pass with
        one host sync, where a loop over the images cost several syncs and launches per tile."""
        counts = keep.sum(1)
        fewest, most = torch.stack(torch.aminmax(counts)).tolist()
        if most == 0:
            return
        index = torch.sort(keep.to(torch.uint8), dim=1, descending=True, stable=True).indices[:, :most]
        index = index[..., None].expand(-1, -1, tokens.shape[-1])
        valid = torch.arange(most, device=keep.device)[None] < counts[:, None]
        result = self.attn(self.norm1(torch.gather(tokens, 1, index)), key_mask=None if fewest == most else valid)
        out.scatter_(1, index, torch.where(valid[..., None], result.to(out.dtype), torch.gather(out, 1, index)))

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, H, W, C); `keep` (B, H*W) bool selects each image's tokens for global attention."""
        if not self.routed:
            x = x + self._window_attention(x)
            return x + self.mlp(self.norm2(x))
        b, h, w, c = x.shape
        msa = self.efficient_block(x).reshape(b, h * w, c)
        self._global_attention(x.reshape(b, h * w, c), keep, msa)
        x = x + msa.reshape(b, h, w, c)
        x = x + self.mlp(self.norm2(x))
        return self.residual(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class PatchEmbed(nn.Module):
    def __init__(self, in_chans: int, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class ViT(nn.Module):
    def __init__(self, in_chans: int = 4, dim: int = 384, depth: int = 12, heads: int = 6, patch: int = 16,
                 window: int = 14, window_blocks: tuple[int, ...] = (0, 1, 3, 4, 6, 7, 9, 10),
                 max_number_token: int = 18500, pretrain_grid: int = 14) -> None:
        super().__init__()
        self.max_number_token = max_number_token
        self.pretrain_grid = pretrain_grid
        self.patch_embed = PatchEmbed(in_chans, dim, patch)
        self.pos_embed = nn.Parameter(torch.zeros(1, pretrain_grid * pretrain_grid + 1, dim))
        self.blocks = nn.ModuleList(
            Block(dim, heads, window if i in window_blocks else 0, routed=i not in window_blocks) for i in range(depth))
        self.routers = nn.ModuleList(Router(dim) for _ in range(depth - len(window_blocks)))

    def abs_pos(self, h: int, w: int) -> torch.Tensor:
        """Pretrain 14x14 grid (cls slot dropped), bicubic-resized to the token grid."""
        g = self.pretrain_grid
        pos = self.pos_embed[:, 1:].reshape(1, g, g, -1)
        if (h, w) == (g, g):
            return pos
        return F.interpolate(pos.permute(0, 3, 1, 2), size=(h, w), mode="bicubic",
                             align_corners=False).permute(0, 2, 3, 1)

    def keep_decision(self, scores: torch.Tensor) -> torch.Tensor:
        """Strict argmax per token, capped per image at the `max_number_token` largest margins."""
        keep = scores[..., 0] > scores[..., 1]
        # Each token's rank by margin; an image keeping more than the cap keeps its `max_number_token` largest
        # (all positive), one keeping fewer keeps all of its own (they rank first). No host sync.
        order = torch.sort(scores[..., 0] - scores[..., 1], dim=1, descending=True)[1]
        rank = torch.empty_like(order).scatter_(1, order, torch.arange(order.shape[1], device=order.device)
                                                .expand_as(order))
        return keep & (rank < self.max_number_token)

    def forward(self, x: torch.Tensor, trace: dict | None = None) -> torch.Tensor:
        """x: (B, 4, Hp, Wp) -> features (B, C, Hp/16, Wp/16); `trace` collects intermediates for tests."""
        x = self.patch_embed(x)
        b, h, w, c = x.shape
        if trace is not None:
            trace["patch_embed"] = x
            trace["abs_pos"] = self.abs_pos(h, w)
        x = x + self.abs_pos(h, w)
        router = iter(self.routers)
        for i, block in enumerate(self.blocks):
            keep = None
            if block.routed:
                scores = next(router)(x.reshape(b, h * w, c))
                keep = self.keep_decision(scores)
                if trace is not None:
                    trace.setdefault("router_scores", []).append(scores.reshape(b, h, w, 2))
                    trace.setdefault("keep", []).append(keep.reshape(b, h, w))
            x = block(x, keep)
            if trace is not None:
                trace.setdefault("blocks", []).append(x)
        return x.permute(0, 3, 1, 2)


# --- decoder ---------------------------------------------------------------------------------------------------


class BasicConv3x3(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class ConvStream(nn.Module):
    def __init__(self, channels: tuple[int, ...] = (4, 48, 96, 192)) -> None:
        super().__init__()
        self.convs = nn.ModuleList(BasicConv3x3(channels[i], channels[i + 1], 2) for i in range(len(channels) - 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = [x]
        for conv in self.convs:
            out.append(conv(out[-1]))
        return out


class FusionBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = BasicConv3x3(cin, cout, 1)

    def forward(self, feature: torch.Tensor, detail: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(feature, scale_factor=2, mode="bilinear", align_corners=False)
        return self.conv(torch.cat([detail, up], dim=1))


class MattingHead(nn.Module):
    def __init__(self, cin: int = 32, mid: int = 16) -> None:
        super().__init__()
        self.matting_convs = nn.Sequential(nn.Conv2d(cin, mid, 3, 1, 1), nn.BatchNorm2d(mid), nn.ReLU(True),
                                           nn.Conv2d(mid, 1, 1, 1, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.matting_convs(x)


class DetailCapture(nn.Module):
    def __init__(self, in_chans: int = 384, fusion: tuple[int, ...] = (256, 128, 64, 32),
                 stream: tuple[int, ...] = (4, 48, 96, 192)) -> None:
        super().__init__()
        self.convstream = ConvStream(stream)
        ins = [in_chans + stream[-1]] + [fusion[i] + stream[-2 - i] for i in range(len(fusion) - 1)]
        self.fusion_blks = nn.ModuleList(FusionBlock(ins[i], fusion[i]) for i in range(len(fusion)))
        self.matting_head = MattingHead(fusion[-1])

    def forward(self, features: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        details = self.convstream(images)
        for i, block in enumerate(self.fusion_blks):
            features = block(features, details[len(self.fusion_blks) - i - 1])
        return torch.sigmoid(self.matting_head(features))


# --- the model and its official inference path ------------------------------------------------------------------


class MEMatte(nn.Module):
    DECODER_PATCH = 512
    DECODER_CONTEXT = 64
    DECODER_BATCH = 1  # crops per decoder call (tiles x patches); the backend raises it on CUDA

    def __init__(self, max_number_token: int = 18500) -> None:
        super().__init__()
        self.backbone = ViT(max_number_token=max_number_token)
        self.decoder = DetailCapture()

    def preprocess(self, image: torch.Tensor, trimap: torch.Tensor) -> torch.Tensor:
        """ImageNet-normalised RGB + raw trimap, zero-padded bottom/right by the official pad-to-32 rule
        (both sides grow by 32 - x%32 as soon as either is unaligned; a multiple of 32 then grows by 32)."""
        mean = torch.tensor(PIXEL_MEAN, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
        std = torch.tensor(PIXEL_STD, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
        x = torch.cat([(image - mean) / std, trimap], dim=1)
        h, w = x.shape[-2:]
        if h % 32 or w % 32:
            x = F.pad(x, (0, 32 - w % 32, 0, 32 - h % 32))
        return x

    def patch_decode(self, features: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """The decoder over 512x512 patches with 64 px context, on a canvas zero-padded to 512 (official).

        Its inputs are channels-last, as the official padding leaves them (it pads a permuted tensor): the
        decoder's convolutions run about 10 % faster that way on the CPU."""
        p, ctx = self.DECODER_PATCH, self.DECODER_CONTEXT
        fp = p // 16
        h, w = images.shape[-2:]
        last = torch.channels_last
        images = F.pad(images, (0, (p - w % p) % p, 0, (p - h % p) % p)).contiguous(memory_format=last)
        fh, fw = features.shape[-2:]
        features = F.pad(features, (0, (fp - fw % fp) % fp, 0, (fp - fh % fp) % fp)).contiguous(memory_format=last)
        big_h, big_w = images.shape[-2:]
        b = images.shape[0]
        out = images.new_zeros(b, 1, big_h, big_w)
        # Patches whose crops (patch + clipped context) have one shape go through the decoder together, up to
        # DECODER_BATCH crops a call (16: a 4K frame's 40 patches in 9 calls), the same per-patch computation.
        crops: dict[tuple[int, int], list[tuple[int, int, int, int, int, int]]] = {}
        for top in range(0, big_h, p):
            for left in range(0, big_w, p):
                y0, x0 = max(top - ctx, 0), max(left - ctx, 0)
                y1, x1 = min(top + p + ctx, big_h), min(left + p + ctx, big_w)
                crops.setdefault((y1 - y0, x1 - x0), []).append((top, left, y0, x0, y1, x1))
        per_call = max(1, self.DECODER_BATCH // b)
        for same in crops.values():
            for start in range(0, len(same), per_call):
                group = same[start:start + per_call]
                patches = self.decoder(
                    torch.cat([features[:, :, y0 // 16:y1 // 16, x0 // 16:x1 // 16] for _, _, y0, x0, y1, x1 in group]
                              ).contiguous(memory_format=last),
                    torch.cat([images[:, :, y0:y1, x0:x1] for _, _, y0, x0, y1, x1 in group]
                              ).contiguous(memory_format=last))
                for j, (top, left, y0, x0, _, _) in enumerate(group):
                    out[:, :, top:top + p, left:left + p] = patches[j * b:(j + 1) * b, :, top - y0:top - y0 + p,
                                                                    left - x0:left - x0 + p]
        return out[:, :, :h, :w]

    def forward(self, image: torch.Tensor, trimap: torch.Tensor, trace: dict | None = None) -> torch.Tensor:
        """image (B, 3, H, W) RGB in [0, 1], trimap (B, 1, H, W) in {0, 0.5, 1} -> raw alpha (B, 1, H, W).

        Known regions are not forced here; `postprocess` does that (raw alpha is what the golden data checks)."""
        h, w = image.shape[-2:]
        x = self.preprocess(image, trimap)
        features = self.backbone(x, trace)
        if trace is not None:
            trace["backbone_input"] = x
            trace["features"] = features
        return self.patch_decode(features, x)[:, :, :h, :w]


def postprocess(alpha: torch.Tensor, trimap: torch.Tensor) -> torch.Tensor:
    """Known regions forced to 0/1 (exact trimap equality, as the official inference)."""
    return torch.where(trimap == 0, torch.zeros_like(alpha), torch.where(trimap == 1, torch.ones_like(alpha), alpha))
