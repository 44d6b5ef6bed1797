#!/usr/bin/env python3
"""Train the early-exit heads by self-distillation; the exported base model is frozen.

All trainable heads are trained together on the same batches so that the frozen base
model's forward (hidden states + teacher distribution) is computed once per batch.
Loss per head = KL(p_full || p_head) + CE(labels), both per token, equal weights.
Output: models/ppsd-mini/exit_heads/<name>.{json,safetensors}.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import WORK, MODEL_DIR, RECIPE_DIR
from export import load_exported
from heads import NormHead, LinearHead, TransformerHead, head_name, save_head
from train_base import load_tokens, make_batch


def head_specs(N):
    return [("norm", N // 4), ("linear", N // 4), ("transformer", N // 8), ("transformer", N // 4),
            ("transformer", N // 2)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=14.0)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--prose-seqs", type=int, default=3)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--seed", type=int, default=4321)
    ap.add_argument("--no-amp", action="store_true")
    args = ap.parse_args()
    amp = not args.no_amp
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    base = load_exported()
    N = base.cfg.num_hidden_layers
    outdir = os.path.join(MODEL_DIR, "exit_heads")
    heads = {}
    for kind, E in head_specs(N):
        cls = {"norm": NormHead, "linear": LinearHead, "transformer": TransformerHead}[kind]
        heads[head_name(kind, E)] = cls(base, E)
    trainable = {n: h for n, h in heads.items() if h.kind != "norm"}
    opts = {n: torch.optim.AdamW(h.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.0)
            for n, h in trainable.items()}
    rng = np.random.default_rng(args.seed)
    streams = [load_tokens("prose", "train"), load_tokens("code", "train")]
    counts = [args.prose_seqs, args.batch - args.prose_seqs]
    budget = args.minutes * 60
    t0 = time.time()
    step, tokens = 0, 0
    hist = {n: [] for n in heads}
    log = open(os.path.join(RECIPE_DIR, "logs", "train_heads.log"), "w")

    def progress():
        return step / args.steps if args.steps else (time.time() - t0) / budget

    while progress() < 1.0:
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1, progress()))))
        x = make_batch(rng, streams, counts, args.seq + 1)
        inp, labels = x[:, :-1], x[:, 1:].reshape(-1)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            full, hidden = base(inp, return_hidden=True)
        logp_full = F.log_softmax(full.float().reshape(-1, full.shape[-1]), -1)
        line = [f"step {step}"]
        for n, h in heads.items():
            with torch.set_grad_enabled(h.kind != "norm"), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                lg = h(hidden[h.E].float())
            logp = F.log_softmax(lg.float().reshape(-1, lg.shape[-1]), -1)
            kl = F.kl_div(logp, logp_full, log_target=True, reduction="batchmean")
            ce = F.nll_loss(logp, labels)
            if h.kind != "norm":
                loss = kl + ce
                opts[n].zero_grad(set_to_none=True)
                for g in opts[n].param_groups:
                    g["lr"] = lr
                loss.backward()
                torch.nn.utils.clip_grad_norm_(h.parameters(), 1.0)
                opts[n].step()
            hist[n].append((kl.item(), ce.item()))
            line.append(f"{n} kl {kl.item():.3f} ce {ce.item():.3f}")
        step += 1
        tokens += labels.numel()
        if step % 5 == 0:
            print(" | ".join(line) + f" | lr {lr:.2e} elapsed {(time.time()-t0)/60:.1f}m", file=log, flush=True)
    minutes = (time.time() - t0) / 60
    for n, h in heads.items():
        last = hist[n][-20:]
        info = {"steps": step if h.kind != "norm" else 0, "tokens": tokens if h.kind != "norm" else 0,
                "minutes": round(minutes, 1) if h.kind != "norm" else 0,
                "loss": "KL(full||head) + CE" if h.kind != "norm" else "none (uses the model's final norm + lm_head)",
                "final_train_kl": round(float(np.mean([a for a, _ in last])), 4),
                "final_train_ce": round(float(np.mean([b for _, b in last])), 4),
                "lr": args.lr, "batch": f"{args.batch}x{args.seq}", "seed": args.seed,
                "init": {"linear": "norm from model.norm, proj from lm_head",
                         "transformer": f"layer from model layer {h.E}, norm from model.norm",
                         "norm": "-"}[h.kind]}
        save_head(h.eval(), n, outdir, info)
        print(n, json.dumps(info))


if __name__ == "__main__":
    main()
