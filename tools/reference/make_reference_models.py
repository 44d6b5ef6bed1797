#!/usr/bin/env python3
"""Generate tiny random LLaMA-family models in Hugging Face layout, with float64
reference outputs, for the Java engine's unit tests.

Output: runtime/src/test/resources/reference/<name>/{config.json, model.safetensors
(or model-0000X-of-00002.safetensors + model.safetensors.index.json), reference.json}

Models:
  tiny-f32          llama, hidden 64, 3 layers, 4 heads / 2 kv heads (GQA), inter 96,
                    vocab 256, untied lm_head, rope_theta 1e4, F32
  tiny-bf16-tied    same shapes, BF16 weights, tied embeddings, rope_theta 5e5,
                    LLaMA-3 rope_scaling (factor 8, low 1, high 4, original 64), max pos 256
  tiny-f16-mistral  model_type mistral, 8 heads / 8 kv heads (MHA), head_dim 8, F16 weights
  tiny-sharded      tiny-f32 shapes (other seed), two shards + index (weight_map)
  tiny-qwen2        model_type qwen2: q/k/v projection biases, tied embeddings, BF16, the
                    sliding-window keys Qwen2 configs carry (window off)
  tiny-qwen3        model_type qwen3: per-head RMSNorm of q and k before RoPE, head_dim 16 with
                    8 heads (heads x head_dim != hidden_size), F32

reference.json: for each input sequence, logits at every position computed in float64
from the stored weights (bf16/f16 upcast exactly), plus a 16-token greedy continuation
(recomputed from scratch at each step, float64). `min_greedy_margin` is the smallest
top1-top2 logit gap met while producing the continuations (seeds are chosen so it is
comfortably above float32 noise).

Deterministic: fixed seeds. Requires only torch + numpy. Run from anywhere:
  python3 tools/reference/make_reference_models.py [name ...]   (names: only those models)
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "runtime", "src", "test", "resources", "reference")

DTYPE_NAME = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}


# ---------------------------------------------------------------- safetensors
def tensor_bytes(t):
    t = t.contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    if t.dtype == torch.float16:
        return t.numpy().astype("<f2").tobytes()
    return t.numpy().astype("<f4").tobytes()


def write_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> torch tensor (F32/BF16/F16). Names sorted, data contiguous in that order,
    header padded with spaces to a multiple of 8 bytes."""
    header = {}
    blobs = []
    off = 0
    for name in sorted(tensors):
        t = tensors[name]
        b = tensor_bytes(t)
        header[name] = {"dtype": DTYPE_NAME[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = metadata or {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------- float64 reference forward
def llama3_inv_freq(inv_freq, rs):
    """Exactly Hugging Face transformers' _compute_llama3_parameters."""
    factor = rs["factor"]
    low_freq_factor = rs["low_freq_factor"]
    high_freq_factor = rs["high_freq_factor"]
    old_context_len = rs["original_max_position_embeddings"]
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)


def inv_freq_of(cfg):
    d = cfg["head_dim"]
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    rs = cfg.get("rope_scaling")
    if rs:
        assert rs["rope_type"] == "llama3"
        inv = llama3_inv_freq(inv, rs)
    return inv


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def forward(cfg, W, ids):
    """Full-sequence causal forward in float64. W: name -> float64 tensor. Returns logits [T, V]."""
    T = len(ids)
    H, KV, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    inv = inv_freq_of(cfg)
    freqs = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    emb = torch.cat([freqs, freqs], -1)
    cos, sin = emb.cos(), emb.sin()
    x = W["model.embed_tokens.weight"][torch.tensor(ids)]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms(x, W[p + "input_layernorm.weight"], eps)
        q = h @ W[p + "self_attn.q_proj.weight"].T
        k = h @ W[p + "self_attn.k_proj.weight"].T
        v = h @ W[p + "self_attn.v_proj.weight"].T
        if p + "self_attn.q_proj.bias" in W:  # Qwen2: biases on q, k, v (not on o)
            q = q + W[p + "self_attn.q_proj.bias"]
            k = k + W[p + "self_attn.k_proj.bias"]
            v = v + W[p + "self_attn.v_proj.bias"]
        q = q.view(T, H, D)
        k = k.view(T, KV, D)
        if p + "self_attn.q_norm.weight" in W:  # Qwen3: RMSNorm over each head's dimensions, before RoPE
            q = rms(q, W[p + "self_attn.q_norm.weight"], eps)
            k = rms(k, W[p + "self_attn.k_norm.weight"], eps)
        q = q.transpose(0, 1)
        k = k.transpose(0, 1)
        v = v.view(T, KV, D).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, 0)
        v = v.repeat_interleave(H // KV, 0)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        att = torch.softmax(att.masked_fill(~mask, float("-inf")), -1)
        y = (att @ v).transpose(0, 1).reshape(T, H * D)
        x = x + y @ W[p + "self_attn.o_proj.weight"].T
        h = rms(x, W[p + "post_attention_layernorm.weight"], eps)
        g = h @ W[p + "mlp.gate_proj.weight"].T
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ W[p + "mlp.down_proj.weight"].T
    x = rms(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    return x @ head.T


# ---------------------------------------------------------------- model generation
def make_weights(cfg, seed, dtype, out_std=0.05):
    g = torch.Generator().manual_seed(seed)
    C, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    H, KV, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]

    def n(*shape, std):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * std

    def norm_w(dim):
        return 1.0 + n(dim, std=0.1)

    W = {"model.embed_tokens.weight": n(V, C, std=0.1)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        W[p + "input_layernorm.weight"] = norm_w(C)
        W[p + "self_attn.q_proj.weight"] = n(H * D, C, std=0.08)
        W[p + "self_attn.k_proj.weight"] = n(KV * D, C, std=0.08)
        W[p + "self_attn.v_proj.weight"] = n(KV * D, C, std=0.08)
        W[p + "self_attn.o_proj.weight"] = n(C, H * D, std=out_std)
        if cfg["model_type"] == "qwen2":
            W[p + "self_attn.q_proj.bias"] = n(H * D, std=0.1)
            W[p + "self_attn.k_proj.bias"] = n(KV * D, std=0.1)
            W[p + "self_attn.v_proj.bias"] = n(KV * D, std=0.1)
        if cfg["model_type"] == "qwen3":
            W[p + "self_attn.q_norm.weight"] = norm_w(D)
            W[p + "self_attn.k_norm.weight"] = norm_w(D)
        W[p + "post_attention_layernorm.weight"] = norm_w(C)
        W[p + "mlp.gate_proj.weight"] = n(I, C, std=0.08)
        W[p + "mlp.up_proj.weight"] = n(I, C, std=0.08)
        W[p + "mlp.down_proj.weight"] = n(C, I, std=out_std)
    W["model.norm.weight"] = norm_w(C)
    if not cfg["tie_word_embeddings"]:
        W["lm_head.weight"] = n(V, C, std=0.1)
    stored = {k: v.to(dtype) for k, v in W.items()}
    exact = {k: v.to(torch.float64) for k, v in stored.items()}
    return stored, exact


def base_config(**over):
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "max_position_embeddings": 128,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "rope_scaling": None,
        "tie_word_embeddings": False,
        "vocab_size": 256,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "float32",
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
    }
    cfg.update(over)
    return cfg


def fmt(x):
    return float(f"{x:.9g}")


def reference(cfg, exact, seed):
    g = torch.Generator().manual_seed(seed + 1000)
    V = cfg["vocab_size"]
    lengths = [1, 7, 20]
    cases = []
    min_margin = float("inf")
    for L in lengths:
        ids = torch.randint(0, V, (L,), generator=g).tolist()
        logits = forward(cfg, exact, ids)
        seq = list(ids)
        cont = []
        for _ in range(16):
            lg = forward(cfg, exact, seq)[-1]
            top = torch.topk(lg, 2).values
            min_margin = min(min_margin, float(top[0] - top[1]))
            t = int(torch.argmax(lg))
            cont.append(t)
            seq.append(t)
        cases.append({"input_ids": ids,
                      "logits": [[fmt(v) for v in row] for row in logits.tolist()],
                      "argmax": [int(a) for a in logits.argmax(-1)],
                      "greedy_continuation": cont})
    return cases, min_margin


def build(name, cfg, dtype, seed, shards=1, out_std=0.05):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    # pick the first seed whose greedy runs have no near-ties (robust argmax comparisons in F32)
    for s in range(seed, seed + 50):
        stored, exact = make_weights(cfg, s, dtype, out_std)
        cases, margin = reference(cfg, exact, s)
        if margin > 2e-3:
            break
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), stored)
    else:
        names = sorted(stored)
        # split by layers: embeddings + first layers in shard 1, rest in shard 2
        first = [n for n in names if n.startswith("model.embed_tokens") or n.startswith("model.layers.0.")
                 or n.startswith("model.layers.1.")]
        parts = [first, [n for n in names if n not in first]]
        weight_map = {}
        total = 0
        for i, part in enumerate(parts):
            fn = f"model-{i + 1:05d}-of-{len(parts):05d}.safetensors"
            write_safetensors(os.path.join(d, fn), {n: stored[n] for n in part})
            for n in part:
                weight_map[n] = fn
                total += stored[n].numel() * stored[n].element_size()
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
    ref = {"model": name, "seed": s, "weights_dtype": DTYPE_NAME[dtype], "compute": "float64 from stored weights",
           "min_greedy_margin": margin, "cases": cases}
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print(f"{name}: seed {s}, min greedy margin {margin:.4f}, {size / 1024:.0f} KiB")


def main():
    torch.set_num_threads(1)
    only = set(sys.argv[1:])  # e.g. "tiny-qwen3": rebuild just those (the others stay as committed)
    real_build = globals()["build"]

    def build(name, *args, **kw):
        if not only or name in only:
            real_build(name, *args, **kw)

    build("tiny-f32", base_config(), torch.float32, seed=1)
    build("tiny-bf16-tied", base_config(
        tie_word_embeddings=True, rope_theta=500000.0, max_position_embeddings=256, torch_dtype="bfloat16",
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 64}), torch.bfloat16, seed=101,
        out_std=0.2)  # larger layer outputs so the tied embedding does not just echo the last token
    build("tiny-f16-mistral", base_config(
        architectures=["MistralForCausalLM"], model_type="mistral", num_attention_heads=8, num_key_value_heads=8,
        head_dim=8, torch_dtype="float16", sliding_window=None), torch.float16, seed=201)
    build("tiny-sharded", base_config(), torch.float32, seed=301, shards=2)
    qwen2 = base_config(architectures=["Qwen2ForCausalLM"], model_type="qwen2", tie_word_embeddings=True, torch_dtype="bfloat16",
                        rope_theta=1000000.0, use_sliding_window=False, sliding_window=4096, max_window_layers=3,
                        attention_dropout=0.0)
    del qwen2["attention_bias"], qwen2["mlp_bias"]
    build("tiny-qwen2", qwen2, torch.bfloat16, seed=401, out_std=0.2)
    build("tiny-qwen3", base_config(architectures=["Qwen3ForCausalLM"], model_type="qwen3", num_attention_heads=8,
                                    num_key_value_heads=4, head_dim=16, rope_theta=1000000.0, use_sliding_window=False,
                                    sliding_window=None, max_window_layers=3, attention_dropout=0.0,
                                    layer_types=["full_attention"] * 3), torch.float32, seed=501)


if __name__ == "__main__":
    main()
