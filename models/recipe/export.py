#!/usr/bin/env python3
"""Export the trained base model to Hugging Face layout in models/ppsd-mini/
(config.json, generation_config.json, model.safetensors F32), and load it back."""
import json
import os
import sys

import torch

from common import WORK, MODEL_DIR
from model import Config, Llama, hf_state_dict, hf_config
from st_io import write_safetensors, read_safetensors


def load_exported(model_dir=MODEL_DIR):
    c = json.load(open(os.path.join(model_dir, "config.json")))
    cfg = Config(vocab_size=c["vocab_size"], hidden_size=c["hidden_size"], intermediate_size=c["intermediate_size"],
                 num_hidden_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
                 num_key_value_heads=c["num_key_value_heads"], head_dim=c["head_dim"],
                 max_position_embeddings=c["max_position_embeddings"], rms_norm_eps=c["rms_norm_eps"],
                 rope_theta=c["rope_theta"], tie_word_embeddings=c["tie_word_embeddings"])
    m = Llama(cfg)
    t = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    sd = {}
    for k, v in t.items():
        sd[k[len("model."):] if k.startswith("model.") else k] = v
    if cfg.tie_word_embeddings:
        sd["lm_head.weight"] = sd["embed_tokens.weight"]
    m.load_state_dict(sd)
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def main():
    ck = sys.argv[1] if len(sys.argv) > 1 else os.path.join(WORK, "ckpt", "base_final.pt")
    d = torch.load(ck)
    cfg = Config(**d["cfg"])
    m = Llama(cfg)
    m.load_state_dict(d["model"])
    os.makedirs(MODEL_DIR, exist_ok=True)
    write_safetensors(os.path.join(MODEL_DIR, "model.safetensors"), hf_state_dict(m))
    with open(os.path.join(MODEL_DIR, "config.json"), "w") as f:
        json.dump(hf_config(cfg), f, indent=2)
    with open(os.path.join(MODEL_DIR, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 2, "do_sample": False}, f, indent=2)
    m2 = load_exported()
    x = torch.randint(0, cfg.vocab_size, (1, 16))
    with torch.no_grad():
        assert torch.equal(m.eval()(x), m2(x)), "export round trip mismatch"
    print(f"exported {ck} (step {d.get('step')}) -> {MODEL_DIR}")


if __name__ == "__main__":
    main()
