#!/usr/bin/env python3
"""Held-out loss/perplexity per corpus (base model and heads) and acceptance rate α per head.

α: for each held-out prompt (models/ppsd-mini/prompts/{prose,code}.jsonl), the full model
generates GEN tokens greedily (fp32); α = fraction of generated positions where the head's
argmax at layer E over the same prefix equals the full model's argmax.
ρ* = N / (α·E + (1−α)·ceil(N/E)·E).
Writes models/ppsd-mini/eval.json.

Options (defaults reproduce the shipped run): --model DIR evaluates another model directory in the
same layout (its exit_heads/, prompts/, tokenizer.json; eval.json written there unless --out);
--norm-layers 2,4,8 also evaluates the model's own final norm + LM head at those layers
(heads named norm-l<E>, no files needed); a bare integer argument limits the prompts per corpus.
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

from bpe import Tokenizer
from common import MODEL_DIR, BOS
from export import load_exported
from heads import load_head
from train_base import load_tokens
from train_heads import head_specs
from heads import head_name, NormHead

GEN = 64


def rho_star(N, E, a):
    return N / (a * E + (1 - a) * math.ceil(N / E) * E)


@torch.no_grad()
def heldout(base, heads, name, T=512, nseq=32):
    s = load_tokens(name, "heldout")
    offs = np.linspace(0, len(s) - T, nseq).astype(np.int64)
    tot = {"base": 0.0} | {n: 0.0 for n in heads}
    cnt = 0
    for i in range(0, nseq, 4):
        x = torch.from_numpy(np.stack([np.concatenate([[BOS], s[o:o + T - 1]]) for o in offs[i:i + 4]]).astype(np.int64))
        logits, hidden = base(x[:, :-1], return_hidden=True)
        y = x[:, 1:].reshape(-1)
        tot["base"] += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y, reduction="sum").item()
        for n, h in heads.items():
            lg = h(hidden[h.E])
            tot[n] += F.cross_entropy(lg.reshape(-1, lg.shape[-1]), y, reduction="sum").item()
        cnt += y.numel()
    return {k: {"loss": v / cnt, "ppl": math.exp(v / cnt)} for k, v in tot.items()} | {"tokens": cnt}


@torch.no_grad()
def greedy(base, ids, n, margins=None):
    """Greedy decoding with the KV cache (prefill, then one token per step)."""
    caches = [{} for _ in base.layers]
    seq = list(ids)
    lg = base(torch.tensor([seq]), start_pos=0, caches=caches)[0, -1]
    for i in range(n):
        if margins is not None:
            top = torch.topk(lg, 2).values
            margins.append(float(top[0] - top[1]))
        seq.append(int(lg.argmax()))
        if i + 1 < n:
            lg = base(torch.tensor([[seq[-1]]]), start_pos=len(seq) - 1, caches=caches)[0, -1]
    return seq


@torch.no_grad()
def alpha(base, heads, prompts, tok):
    hits = {n: 0 for n in heads}
    total = 0
    for p in prompts:
        ids = tok.encode(p["text"])
        seq = greedy(base, ids, GEN)
        x = torch.tensor([seq[:-1]])
        logits, hidden = base(x, return_hidden=True)
        full = logits[0, len(ids) - 1:].argmax(-1)  # predictions of the GEN generated tokens
        assert full.tolist() == seq[len(ids):], "incremental vs full-sequence argmax mismatch"
        for n, h in heads.items():
            hd = h(hidden[h.E])[0, len(ids) - 1:].argmax(-1)
            hits[n] += int((hd == full).sum())
        total += GEN
    return {n: hits[n] / total for n in heads} | {"positions": total}


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("maxp", nargs="?", type=int, default=10 ** 9, help="at most this many prompts per corpus")
    ap.add_argument("--model", default=MODEL_DIR, help="model directory (default models/ppsd-mini)")
    ap.add_argument("--out", help="eval.json path (default MODEL/eval.json)")
    ap.add_argument("--norm-layers", default="", help="comma-separated exit layers for extra norm heads, e.g. 2,4,8")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    model_dir = os.path.abspath(args.model)
    maxp = args.maxp
    torch.set_num_threads(args.threads)
    base = load_exported(model_dir)
    N = base.cfg.num_hidden_layers
    tok = Tokenizer(os.path.join(model_dir, "tokenizer.json"))
    heads = {}
    for kind, E in head_specs(N):
        n = head_name(kind, E)
        heads[n], _ = load_head(base, os.path.join(model_dir, "exit_heads"), n)
    for E in [int(e) for e in args.norm_layers.split(",") if e.strip()]:
        n = head_name("norm", E)
        if n not in heads:
            heads[n] = NormHead(base, E)
    res = {"heldout": {}, "alpha": {}, "rho_star": {}}
    for corpus in ("prose", "code"):
        res["heldout"][corpus] = heldout(base, heads, corpus)
        prompts = [json.loads(l) for l in open(os.path.join(model_dir, "prompts", f"{corpus}.jsonl"))][:maxp]
        res["alpha"][corpus] = alpha(base, heads, prompts, tok)
        res["rho_star"][corpus] = {n: rho_star(N, h.E, res["alpha"][corpus][n]) for n, h in heads.items()}
        print(corpus, json.dumps(res["heldout"][corpus]), json.dumps(res["alpha"][corpus]), flush=True)
    res["exit_layers"] = {n: h.E for n, h in heads.items()}
    res["N"] = N
    with open(args.out or os.path.join(model_dir, "eval.json"), "w") as f:
        json.dump(res, f, indent=2)
    print("| head | E | α prose | ρ* prose | α code | ρ* code |")
    for n, h in heads.items():
        print(f"| {n} | {h.E} | {res['alpha']['prose'][n]:.3f} | {res['rho_star']['prose'][n]:.2f} | "
              f"{res['alpha']['code'][n]:.3f} | {res['rho_star']['code'][n]:.2f} |")


if __name__ == "__main__":
    main()
