#!/usr/bin/env python3
"""Train the ppsd-mini base model on CPU.

Batches: B sequences of T tokens, each = <|bos|> + T-1 consecutive tokens taken at a
random offset of the concatenated training stream of one corpus (documents are
separated by <|eos|>). Each batch holds PROSE_SEQS prose and B-PROSE_SEQS code sequences.
The learning-rate schedule (linear warmup, cosine decay to 10 %) is driven by wall-clock
progress through --minutes (so the run ends on time on a loaded machine) unless --steps is
given, in which case it is step-driven (bit-for-bit reruns need --steps).
Resumes from $PPSD_WORK/ckpt/base.pt if present.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import WORK, RECIPE_DIR, BOS
from model import Config, Llama


def load_tokens(name, split):
    return np.fromfile(os.path.join(WORK, "tokens", f"{name}.{split}.u16"), dtype=np.uint16)


def make_batch(rng, streams, counts, T):
    rows = []
    for stream, n in zip(streams, counts):
        offs = rng.integers(0, len(stream) - T, size=n)
        for o in offs:
            rows.append(np.concatenate([[BOS], stream[o:o + T - 1]]))
    return torch.from_numpy(np.stack(rows).astype(np.int64))


@torch.no_grad()
def heldout_loss(model, name, T=512, nseq=16, amp=True):
    """Mean next-token loss over nseq fixed, evenly spaced windows of the held-out stream."""
    s = load_tokens(name, "heldout")
    offs = np.linspace(0, len(s) - T, nseq).astype(np.int64)
    tot, n = 0.0, 0
    for i in range(0, nseq, 4):
        x = torch.from_numpy(np.stack([np.concatenate([[BOS], s[o:o + T - 1]]) for o in offs[i:i + 4]]).astype(np.int64))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            logits = model(x[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum")
        tot += loss.item()
        n += x[:, 1:].numel()
    return tot / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=70.0)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--prose-seqs", type=int, default=6)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--no-amp", action="store_true")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    amp = not args.no_amp
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    cfg = Config(max_position_embeddings=args.seq)
    model = Llama(cfg)
    nparams = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    ckdir = os.path.join(WORK, "ckpt")
    os.makedirs(ckdir, exist_ok=True)
    ckpath = os.path.join(ckdir, "base.pt")
    step, elapsed, tokens = 0, 0.0, 0
    rng = np.random.default_rng(args.seed)
    if os.path.exists(ckpath):
        ck = torch.load(ckpath)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed, tokens = ck["step"], ck["elapsed"], ck["tokens"]
        rng.bit_generator.state = ck["rng"]
        print(f"resumed at step {step}", flush=True)
    streams = [load_tokens("prose", "train"), load_tokens("code", "train")]
    counts = [args.prose_seqs, args.batch - args.prose_seqs]
    budget = args.minutes * 60
    print(f"params {nparams} ({nparams/1e6:.2f} M), cfg {cfg.to_dict()}, args {vars(args)}", flush=True)

    def progress():
        return step / args.steps if args.steps else elapsed / budget

    last_ck = time.time()
    last_eval = time.time()
    t0 = time.time() - elapsed
    while progress() < 1.0:
        if step < args.warmup:
            lr = args.lr * (step + 1) / args.warmup
        else:
            p = min(1.0, progress())
            lr = args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))
        for g in opt.param_groups:
            g["lr"] = lr
        x = make_batch(rng, streams, counts, args.seq + 1)
        ts = time.time()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            logits = model(x[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, cfg.vocab_size), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens += x[:, 1:].numel()
        elapsed = time.time() - t0
        if step % 10 == 0:
            tps = x[:, 1:].numel() / (time.time() - ts)
            eta = (1 - progress()) * (elapsed / max(progress(), 1e-9))
            print(f"step {step} loss {loss.item():.4f} gnorm {gn:.2f} lr {lr:.2e} tok/s {tps:.0f} tokens {tokens} "
                  f"elapsed {elapsed/60:.1f}m eta {eta/60:.1f}m", flush=True)
        if time.time() - last_eval > 900:
            model.eval()
            print(f"EVAL step {step} heldout prose {heldout_loss(model, 'prose', amp=amp):.4f} "
                  f"code {heldout_loss(model, 'code', amp=amp):.4f}", flush=True)
            model.train()
            last_eval = time.time()
        if time.time() - last_ck > 300:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed,
                        "tokens": tokens, "rng": rng.bit_generator.state, "cfg": cfg.to_dict()}, ckpath + ".tmp")
            os.replace(ckpath + ".tmp", ckpath)
            last_ck = time.time()
    model.eval()
    res = {"steps": step, "tokens": tokens, "train_minutes": elapsed / 60, "params": nparams,
           "final_train_loss": loss.item(), "args": vars(args), "cfg": cfg.to_dict()}
    torch.save({"model": model.state_dict(), "step": step, "elapsed": elapsed, "tokens": tokens, "cfg": cfg.to_dict(),
                "info": res}, os.path.join(ckdir, "base_final.pt"))
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed,
                "tokens": tokens, "rng": rng.bit_generator.state, "cfg": cfg.to_dict()}, ckpath)
    with open(os.path.join(RECIPE_DIR, "logs", "train_base.json"), "w") as f:
        json.dump(res, f, indent=2)
    print("DONE", json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
