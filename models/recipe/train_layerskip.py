#!/usr/bin/env python3
"""LayerSkip-style continued training of ppsd-mini (issue #16), exported to models/ppsd-mini-layerskip/.

Starts from the exported ppsd-mini weights (models/ppsd-mini/model.safetensors) and continues
training on the recipe's training split (same batches as train_base.py: B sequences of
<|bos|> + T-1 tokens at random offsets, PROSE_SEQS prose + the rest code) with two additions
in the spirit of LayerSkip (Elhoushi et al. 2024):

- early-exit loss: the model's own final RMSNorm + (tied) LM head applied to the residual
  stream after every layer l = 1..N-1, next-token cross-entropy, weighted
      loss = CE_N + exit_scale * sum_l c_l * CE_l,   c_l = l / sum_k k   (grows with depth).
  To keep the cost down, each step evaluates the early exits on a random subset of the
  positions (--exit-frac of B*T, the same positions for every layer); CE_N uses all positions.
- layer dropout: in training, layer i (0-based) is skipped per sample with probability
  p_i = p_max * i / (N-1) (0 for the first layer, p_max for the last); skipped = identity.

The learning rate follows train_base.py's schedule (linear warmup, cosine decay to 10 %,
driven by wall-clock progress through --minutes unless --steps) at a lower peak suitable
for continued training. Resumes from $PPSD_WORK/ckpt/<ckpt-name>.pt (every 5 min and at the
end); --fresh ignores/removes it. Exports to --out in the runtime's layout: config.json,
tokenizer files, generation_config.json, token_frequencies.json and prompts/ copied from
ppsd-mini, a new model.safetensors (recipe's hf_state_dict + write_safetensors, checked by a
round trip through export.load_exported) and training.json.
"""
import argparse
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import WORK, MODEL_DIR, MODELS_DIR, RECIPE_DIR, BOS
from export import load_exported
from model import Config, Llama, hf_state_dict, rope_cos_sin
from st_io import write_safetensors
from train_base import load_tokens, make_batch

OUT_DIR = os.path.join(MODELS_DIR, "ppsd-mini-layerskip")
COPIED = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
          "token_frequencies.json"]
LOG_EXITS = (2, 4, 8)  # exits reported in the progress lines (besides the final layer)


def exit_weights(N):
    """c_l for exits after l = 1..N-1 layers: proportional to l, summing to 1."""
    c = torch.arange(1, N, dtype=torch.float32)
    return c / c.sum()


def forward_hidden(model, ids, drop_p=None, gen=None):
    """Residual stream after every layer: hidden[l] = after l layers (hidden[0] = embeddings).
    drop_p: per-layer skip probabilities (training only), applied per sample."""
    T = ids.shape[1]
    cos, sin = rope_cos_sin(model.cfg, torch.arange(0, T), dtype=model.embed_tokens.weight.dtype)
    x = model.embed_tokens(ids)
    hidden = [x]
    for i, layer in enumerate(model.layers):
        y = layer(x, cos, sin)
        if drop_p is not None and drop_p[i] > 0:
            keep = torch.rand(ids.shape[0], generator=gen) >= drop_p[i]
            x = torch.where(keep[:, None, None], y, x)
        else:
            x = y
        hidden.append(x)
    return hidden


def exit_logits(model, h):
    return model.lm_head(model.norm(h))


@torch.no_grad()
def heldout_exits(model, name, exits, T=512, nseq=8, amp=True):
    """Held-out next-token loss at the given exits (N = full model) on nseq evenly spaced windows."""
    s = load_tokens(name, "heldout")
    offs = np.linspace(0, len(s) - T, nseq).astype(np.int64)
    tot = {e: 0.0 for e in exits}
    n = 0
    for i in range(0, nseq, 4):
        x = torch.from_numpy(np.stack([np.concatenate([[BOS], s[o:o + T - 1]]) for o in offs[i:i + 4]]).astype(np.int64))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            hidden = forward_hidden(model, x[:, :-1])
            y = x[:, 1:].reshape(-1)
            for e in exits:
                lg = exit_logits(model, hidden[e]).float()
                tot[e] += F.cross_entropy(lg.reshape(-1, lg.shape[-1]), y, reduction="sum").item()
        n += y.numel()
    return {e: tot[e] / n for e in exits}


def fmt_eval(model, N, amp):
    exits = list(LOG_EXITS) + [N]
    parts = []
    for c in ("prose", "code"):
        r = heldout_exits(model, c, exits, amp=amp)
        parts.append(f"{c} " + " ".join(f"l{e} {r[e]:.4f}" for e in exits))
    return " | ".join(parts)


def export(model, out_dir, info):
    os.makedirs(out_dir, exist_ok=True)
    for f in COPIED:
        shutil.copyfile(os.path.join(MODEL_DIR, f), os.path.join(out_dir, f))
    pd = os.path.join(out_dir, "prompts")
    os.makedirs(pd, exist_ok=True)
    for f in sorted(os.listdir(os.path.join(MODEL_DIR, "prompts"))):
        shutil.copyfile(os.path.join(MODEL_DIR, "prompts", f), os.path.join(pd, f))
    sd = {k: v.detach().float() for k, v in hf_state_dict(model).items()}
    write_safetensors(os.path.join(out_dir, "model.safetensors"), sd)
    with open(os.path.join(out_dir, "training.json"), "w") as f:
        json.dump(info, f, indent=2)
    m2 = load_exported(out_dir)
    x = torch.randint(0, model.cfg.vocab_size, (1, 16))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), m2(x)), "export round trip mismatch"
    print(f"exported -> {out_dir}", flush=True)


MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(16 << 30),
              "MALLOC_TOP_PAD_": str(256 << 20)}


def main():
    if sys.platform == "linux" and not all(k in os.environ for k in MALLOC_ENV):
        # keep freed memory in the process instead of returning it to the kernel every step
        os.execve(sys.executable, [sys.executable] + sys.argv, os.environ | MALLOC_ENV)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=35.0)
    ap.add_argument("--steps", type=int, default=0, help="step-driven schedule instead of wall clock")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--prose-seqs", type=int, default=6)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--lr", type=float, default=5e-4, help="peak LR (base training: 2e-3, ending at 2e-4)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--exit-scale", type=float, default=1.0, help="total weight of the early-exit losses")
    ap.add_argument("--exit-frac", type=float, default=0.25, help="fraction of positions the early exits are scored on")
    ap.add_argument("--p-max", type=float, default=0.1, help="layer-dropout rate of the last layer (0 at layer 0)")
    ap.add_argument("--micro", type=int, default=2, help="sequences per micro-batch (gradient accumulation)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-amp", action="store_true")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--init", default=MODEL_DIR, help="exported model directory to start from")
    ap.add_argument("--ckpt-name", default="layerskip")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    ap.add_argument("--out", default=OUT_DIR)
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--log-every", type=int, default=10, help="steps between progress lines")
    ap.add_argument("--eval-every", type=float, default=10.0, help="minutes between held-out evaluations")
    args = ap.parse_args()
    amp = not args.no_amp
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed + 1)

    model = load_exported(args.init)
    for p in model.parameters():
        p.requires_grad_(True)
    model.train()
    cfg = model.cfg
    N = cfg.num_hidden_layers
    cw = exit_weights(N)
    drop_p = [args.p_max * i / (N - 1) for i in range(N)]
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    ckdir = os.path.join(WORK, "ckpt")
    os.makedirs(ckdir, exist_ok=True)
    ckpath = os.path.join(ckdir, args.ckpt_name + ".pt")
    step, elapsed, tokens = 0, 0.0, 0
    rng = np.random.default_rng(args.seed)
    if os.path.exists(ckpath) and not args.fresh:
        ck = torch.load(ckpath)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed, tokens = ck["step"], ck["elapsed"], ck["tokens"]
        rng.bit_generator.state = ck["rng"]
        gen.set_state(ck["gen"])
        torch.set_rng_state(ck["torch_rng"])
        print(f"resumed {ckpath} at step {step} ({elapsed/60:.1f} min)", flush=True)
    streams = [load_tokens("prose", "train"), load_tokens("code", "train")]
    counts = [args.prose_seqs, args.batch - args.prose_seqs]
    budget = args.minutes * 60
    print(f"layerskip: init {args.init}, args {vars(args)}", flush=True)
    print("exit weights c_l (l=1..N-1): " + " ".join(f"{w:.3f}" for w in cw.tolist()), flush=True)
    print("layer-dropout p_i (i=0..N-1): " + " ".join(f"{p:.3f}" for p in drop_p), flush=True)
    model.eval()
    ev0 = fmt_eval(model, N, amp)
    print(f"EVAL step {step} heldout {ev0}", flush=True)
    model.train()

    def save_ck():
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed,
                    "tokens": tokens, "rng": rng.bit_generator.state, "gen": gen.get_state(),
                    "torch_rng": torch.get_rng_state(), "cfg": cfg.to_dict(), "args": vars(args)}, ckpath + ".tmp")
        os.replace(ckpath + ".tmp", ckpath)

    def progress():
        return step / args.steps if args.steps else elapsed / budget

    BT = args.batch * args.seq
    last_ck = last_eval = time.time()
    t0 = time.time() - elapsed
    acc = {"n": 0, "final": 0.0, "exit": 0.0} | {e: 0.0 for e in LOG_EXITS}
    lf = None
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
        opt.zero_grad(set_to_none=True)
        # gradient accumulation over micro-batches: keeps every tensor (logits chunks, attention
        # scores) under glibc's mmap threshold, so the step does not page-fault fresh memory
        # (on this VM that made a 16x512 step several times slower)
        nmb = math.ceil(args.batch / args.micro)
        lf, le, ce = 0.0, 0.0, torch.zeros(N - 1)
        for mb in range(nmb):
            xm = x[mb * args.micro:(mb + 1) * args.micro]
            wm = xm.shape[0] / args.batch
            y = xm[:, 1:].reshape(-1)
            BTm = y.numel()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                hidden = forward_hidden(model, xm[:, :-1], drop_p if args.p_max > 0 else None, gen)
                logits = exit_logits(model, hidden[N])
                loss_f = F.cross_entropy(logits.float().reshape(-1, cfg.vocab_size), y)
                loss = loss_f
                if args.exit_scale > 0:
                    k = max(1, int(round(args.exit_frac * BTm)))
                    pos = torch.randperm(BTm, generator=gen)[:k]
                    yp = y[pos]
                    ces = []
                    for l in range(1, N):
                        lg = exit_logits(model, hidden[l].reshape(BTm, -1)[pos]).float()
                        ces.append(F.cross_entropy(lg, yp))
                    ces = torch.stack(ces)  # [N-1]
                    loss_e = (cw * ces).sum()
                    loss = loss_f + args.exit_scale * loss_e
                    le += wm * loss_e.item()
                    ce += wm * ces.detach()
            (wm * loss).backward()
            lf += wm * loss_f.item()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens += BT
        elapsed = time.time() - t0
        acc["n"] += 1
        acc["final"] += lf
        if args.exit_scale > 0:
            acc["exit"] += le
            for e in LOG_EXITS:
                acc[e] += ce[e - 1].item()
        if step % args.log_every == 0 or step == 1:
            n = acc["n"]
            tps = BT / (time.time() - ts)
            eta = (1 - progress()) * (elapsed / max(progress(), 1e-9))
            ex = " ".join(f"l{e} {acc[e]/n:.4f}" for e in LOG_EXITS)
            print(f"step {step} loss l{N} {acc['final']/n:.4f} {ex} exit_mix {acc['exit']/n:.4f} gnorm {gn:.2f} "
                  f"lr {lr:.2e} tok/s {tps:.0f} tokens {tokens} elapsed {elapsed/60:.1f}m eta {eta/60:.1f}m", flush=True)
            acc = {"n": 0, "final": 0.0, "exit": 0.0} | {e: 0.0 for e in LOG_EXITS}
        if time.time() - last_eval > args.eval_every * 60:
            model.eval()
            print(f"EVAL step {step} heldout {fmt_eval(model, N, amp)}", flush=True)
            model.train()
            last_eval = time.time()
        if time.time() - last_ck > 300:
            save_ck()
            last_ck = time.time()
    save_ck()
    model.eval()
    ev = fmt_eval(model, N, amp)
    print(f"EVAL step {step} heldout {ev}", flush=True)
    info = {"init": os.path.relpath(args.init, MODELS_DIR), "steps": step, "tokens": tokens,
            "train_minutes": round(elapsed / 60, 2), "final_train_loss": lf,
            "objective": "CE at layer N + exit_scale * sum_l (l / sum k) CE(lm_head(norm(h_l))) on exit_frac of the "
                         "positions; per-sample layer dropout p_i = p_max * i/(N-1)",
            "heldout_8x512_amp_start": ev0, "heldout_8x512_amp_end": ev,
            "trainer": "models/recipe/train_layerskip.py", "args": vars(args) | {"init": os.path.relpath(args.init, MODELS_DIR),
                                                                                 "out": os.path.relpath(args.out, MODELS_DIR)}}
    with open(os.path.join(RECIPE_DIR, "logs", f"train_{args.ckpt_name}.json"), "w") as f:
        json.dump(info, f, indent=2)
    if not args.no_export:
        export(model, args.out, info)
    print("DONE", json.dumps(info), flush=True)


if __name__ == "__main__":
    main()
