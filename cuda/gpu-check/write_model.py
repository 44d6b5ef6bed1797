#!/usr/bin/env python3
"""Writes a LLaMA model with random BF16 weights in the Hugging Face layout (config.json +
model.safetensors), for the GPU check: the Java backend and PyTorch/transformers then decode the
very same weights. Weights are Gaussian with the scales of the Java tests' RandomCheckpoint
(1/sqrt(fan-in), norms around 1), so activations stay in range over the layers.

  --shape llama2-7b --layers 8   LLaMA-2-7B's layer shape (hidden 4096, 32 heads, MLP 11008,
                                 vocabulary 32000), 8 of its 32 layers: 3.5 GB, seconds on a GPU
  --shape tiny                   a small model for the emulated driver (GpuCheckScriptTest)
"""
import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "recipe"))
from st_io import write_safetensors  # noqa: E402

SHAPES = {
    "llama2-7b": dict(hidden=4096, heads=32, kv_heads=32, head_dim=128, ffn=11008, vocab=32000, layers=32, max_positions=4096),
    "tiny": dict(hidden=64, heads=4, kv_heads=2, head_dim=16, ffn=96, vocab=96, layers=2, max_positions=256),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=sorted(SHAPES), default="llama2-7b")
    ap.add_argument("--layers", type=int, help="layers to write (default: the shape's)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    s = dict(SHAPES[a.shape])
    if a.layers:
        s["layers"] = a.layers
    device = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator(device=device).manual_seed(a.seed)
    h, ffn, q, kv = s["hidden"], s["ffn"], s["heads"] * s["head_dim"], s["kv_heads"] * s["head_dim"]

    def mat(rows, cols, scale):
        return (torch.randn(rows, cols, generator=g, device=device) * scale).to(torch.bfloat16).cpu()

    def norm():
        return (1 + 0.1 * torch.randn(h, generator=g, device=device)).to(torch.bfloat16).cpu()

    t = {"model.embed_tokens.weight": mat(s["vocab"], h, 1.0)}
    inv = 1 / math.sqrt(h)
    for i in range(s["layers"]):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = norm()
        t[p + "self_attn.q_proj.weight"] = mat(q, h, 2 * inv)
        t[p + "self_attn.k_proj.weight"] = mat(kv, h, 2 * inv)
        t[p + "self_attn.v_proj.weight"] = mat(kv, h, inv)
        t[p + "self_attn.o_proj.weight"] = mat(h, q, 1 / math.sqrt(q))
        t[p + "post_attention_layernorm.weight"] = norm()
        t[p + "mlp.gate_proj.weight"] = mat(ffn, h, inv)
        t[p + "mlp.up_proj.weight"] = mat(ffn, h, inv)
        t[p + "mlp.down_proj.weight"] = mat(h, ffn, 1 / math.sqrt(ffn))
    t["model.norm.weight"] = norm()
    t["lm_head.weight"] = mat(s["vocab"], h, 1.0)
    os.makedirs(a.out, exist_ok=True)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": h, "intermediate_size": ffn,
              "num_hidden_layers": s["layers"], "num_attention_heads": s["heads"], "num_key_value_heads": s["kv_heads"],
              "head_dim": s["head_dim"], "vocab_size": s["vocab"], "max_position_embeddings": s["max_positions"],
              "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2,
              "hidden_act": "silu", "torch_dtype": "bfloat16"}
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    write_safetensors(os.path.join(a.out, "model.safetensors"), t)
    total = sum(x.numel() for x in t.values())
    print(f"write_model: {a.out}: {a.shape} with {s['layers']} layers, {total / 1e9:.2f} B parameters, BF16 ({2 * total / 1e9:.2f} GB)")


if __name__ == "__main__":
    main()
