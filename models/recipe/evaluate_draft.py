#!/usr/bin/env python3
"""Held-out evaluation of the draft model (models/ppsd-mini-draft) against its target ppsd-mini.

Two position sets per corpus (prose, code):
  * "heldout": the held-out token stream, the same 32 evenly spaced windows of 512 positions as
    evaluate.py (<|bos|> + 511 tokens, 16,352 predicted positions), teacher-forced on real text.
  * "prompts": the 30 held-out prompts of models/ppsd-mini/prompts; ppsd-mini generates 64 tokens
    greedily (fp32) and the draft is scored on those 1,920 positions (the protocol of the α table
    of the exit heads in evaluate.py).
Per position set:
  loss / ppl      next-token cross-entropy of the draft (and of ppsd-mini) on the real text ("heldout" only)
  alpha_greedy    fraction of positions where argmax p_draft == argmax p_target
  alpha_sample    mean over positions of sum_v min(p_draft(v), p_target(v)) at temperature 1
                  (= 1 - total variation; the acceptance probability of speculative sampling)
  kl              mean KL(p_target || p_draft), nats
For reference the same held-out-window figures are computed for ppsd-mini's early-exit heads.
Writes models/ppsd-mini-draft/eval.json (or the path given by --out).
"""
import argparse
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

from common import MODEL_DIR, DRAFT_DIR, BOS
from train_base import load_tokens

GEN = 64


def windows(name, T=512, nseq=32):
    s = load_tokens(name, "heldout")
    offs = np.linspace(0, len(s) - T, nseq).astype(np.int64)
    return torch.from_numpy(np.stack([np.concatenate([[BOS], s[o:o + T - 1]]) for o in offs]).astype(np.int64))


class Acc:
    """Accumulates the per-position metrics of one draft against the target."""

    def __init__(self):
        self.n = 0
        self.ce = 0.0
        self.hit = 0
        self.acc = 0.0
        self.kl = 0.0

    def add(self, lg_draft, lg_target, labels=None):
        lg_draft = lg_draft.reshape(-1, lg_draft.shape[-1]).double()
        lg_target = lg_target.reshape(-1, lg_target.shape[-1]).double()
        lp_d = F.log_softmax(lg_draft, -1)
        lp_t = F.log_softmax(lg_target, -1)
        if labels is not None:
            self.ce += F.nll_loss(lp_d, labels.reshape(-1), reduction="sum").item()
        self.hit += int((lg_draft.argmax(-1) == lg_target.argmax(-1)).sum())
        self.acc += torch.minimum(lp_d.exp(), lp_t.exp()).sum(-1).sum().item()
        self.kl += (lp_t.exp() * (lp_t - lp_d)).sum(-1).sum().item()
        self.n += lg_draft.shape[0]

    def result(self, with_loss=True):
        r = {}
        if with_loss:
            r["loss"] = self.ce / self.n
            r["ppl"] = math.exp(self.ce / self.n)
        r |= {"alpha_greedy": self.hit / self.n, "alpha_sample": self.acc / self.n, "kl": self.kl / self.n,
              "positions": self.n}
        return r


@torch.no_grad()
def heldout_metrics(target, drafts, name, nseq=32, T=512, heads=None, amp=False):
    """Metrics of each draft (dict name -> model) against target on the held-out windows of one corpus."""
    x = windows(name, T, nseq)
    accs = {n: Acc() for n in drafts} | {n: Acc() for n in (heads or {})}
    tce, tn = 0.0, 0
    for i in range(0, nseq, 4):
        xb = x[i:i + 4]
        inp, y = xb[:, :-1], xb[:, 1:]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            lt, hidden = target(inp, return_hidden=True)
        lt = lt.float()
        tce += F.cross_entropy(lt.reshape(-1, lt.shape[-1]), y.reshape(-1), reduction="sum").item()
        tn += y.numel()
        for n, d in drafts.items():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                ld = d(inp).float()
            accs[n].add(ld, lt, y)
        for n, h in (heads or {}).items():
            accs[n].add(h(hidden[h.E]).float(), lt, y)
    out = {n: a.result() for n, a in accs.items()}
    out["target"] = {"loss": tce / tn, "ppl": math.exp(tce / tn), "positions": tn}
    return out


@torch.no_grad()
def prompt_metrics(target, drafts, prompts, tok):
    from evaluate import greedy
    accs = {n: Acc() for n in drafts}
    for p in prompts:
        ids = tok.encode(p["text"])
        seq = greedy(target, ids, GEN)
        x = torch.tensor([seq[:-1]])
        lt = target(x)[0, len(ids) - 1:]
        assert lt.argmax(-1).tolist() == seq[len(ids):], "incremental vs full-sequence argmax mismatch"
        for n, d in drafts.items():
            accs[n].add(d(x)[0, len(ids) - 1:], lt)
    return {n: a.result(with_loss=False) for n, a in accs.items()}


def macs_per_token(cfg):
    """Multiply-accumulates of the weight matrices per token (embedding lookup free, tied LM head
    counted; attention scores excluded: 2*L*ctx*H*D more at context length ctx)."""
    C, H, KV, D, I, V = (cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim,
                         cfg.intermediate_size, cfg.vocab_size)
    layer = C * H * D * 2 + C * KV * D * 2 + 3 * C * I
    return cfg.num_hidden_layers * layer + C * V


def attention_macs_per_token(cfg, ctx):
    return 2 * cfg.num_hidden_layers * ctx * cfg.num_attention_heads * cfg.head_dim


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--draft", default=DRAFT_DIR)
    ap.add_argument("--out", default=None, help="default: <draft>/eval.json")
    ap.add_argument("--nseq", type=int, default=32)
    ap.add_argument("--max-prompts", type=int, default=10 ** 9)
    args = ap.parse_args()
    torch.set_num_threads(2)
    from bpe import Tokenizer
    from export import load_exported
    from heads import load_head, head_name
    from train_heads import head_specs
    target = load_exported(MODEL_DIR)
    draft = load_exported(args.draft)
    tok = Tokenizer(os.path.join(args.draft, "tokenizer.json"))
    heads = {}
    for kind, E in head_specs(target.cfg.num_hidden_layers):
        n = head_name(kind, E)
        heads[n], _ = load_head(target, os.path.join(MODEL_DIR, "exit_heads"), n)
    res = {"draft": os.path.relpath(args.draft, os.path.dirname(MODEL_DIR)), "target": "ppsd-mini",
           "params": {"draft": sum(p.numel() for p in draft.parameters()),
                      "target": sum(p.numel() for p in target.parameters())},
           "macs_per_token": {"draft": macs_per_token(draft.cfg), "target": macs_per_token(target.cfg)},
           "attention_macs_per_token_at_ctx_256": {"draft": attention_macs_per_token(draft.cfg, 256),
                                                   "target": attention_macs_per_token(target.cfg, 256)},
           "heldout": {}, "prompts": {}, "heldout_exit_heads": {}}
    res["macs_ratio"] = res["macs_per_token"]["draft"] / res["macs_per_token"]["target"]
    for corpus in ("prose", "code"):
        h = heldout_metrics(target, {"draft": draft}, corpus, nseq=args.nseq, heads=heads)
        res["heldout"][corpus] = {"draft": h["draft"], "target": h["target"]}
        res["heldout_exit_heads"][corpus] = {n: h[n] for n in heads}
        prompts = [json.loads(l) for l in open(os.path.join(MODEL_DIR, "prompts", f"{corpus}.jsonl"))][:args.max_prompts]
        res["prompts"][corpus] = prompt_metrics(target, {"draft": draft}, prompts, tok)["draft"]
        print(corpus, "heldout", json.dumps(res["heldout"][corpus]), "prompts", json.dumps(res["prompts"][corpus]),
              flush=True)
    out = args.out or os.path.join(args.draft, "eval.json")
    with open(out, "w") as f:
        json.dump(res, f, indent=2)
    print("| set | corpus | loss (draft / ppsd-mini) | α greedy | α sample T=1 | KL(target‖draft) |")
    for s in ("heldout", "prompts"):
        for c in ("prose", "code"):
            r = res[s][c] if s == "prompts" else res[s][c]["draft"]
            loss = f"{r['loss']:.3f} / {res['heldout'][c]['target']['loss']:.3f}" if s == "heldout" else "-"
            print(f"| {s} | {c} | {loss} | {r['alpha_greedy']:.3f} | {r['alpha_sample']:.3f} | {r['kl']:.3f} |")
    print("exit heads on the held-out windows (α greedy / α sample):")
    for n in heads:
        print(f"  {n}: prose {res['heldout_exit_heads']['prose'][n]['alpha_greedy']:.3f} / "
              f"{res['heldout_exit_heads']['prose'][n]['alpha_sample']:.3f}, code "
              f"{res['heldout_exit_heads']['code'][n]['alpha_greedy']:.3f} / "
              f"{res['heldout_exit_heads']['code'][n]['alpha_sample']:.3f}")
    print("wrote", out)


if __name__ == "__main__":
    main()
