#!/usr/bin/env python3
"""Distil a small draft model from ppsd-mini (for PipeSpec-style hierarchies of separate models).

Teacher: the exported ppsd-mini (models/ppsd-mini), frozen. Student(s): the same LLaMA
architecture (model.py: RMSNorm, RoPE θ 10000 rotate_half, GQA, SwiGLU, tied embeddings,
vocabulary 4096, 512 positions) with fewer layers and a smaller hidden size, named by
--arch "LxH" (L layers, hidden H; H >= 96: 4 heads / 2 KV heads of H/4, else 2 heads / 1 KV
head of H/2; MLP intermediate 3H, the ppsd-mini ratio). A ":rand" suffix initialises the
embedding randomly; otherwise the student's embedding (= its tied LM head) is initialised
from the teacher's by PCA: E_s = E_t V_H, V_H the top-H right singular vectors of E_t
[4096, 128] (keeps the best rank-H approximation of the token-token inner products that the
teacher's tied head is built on). Everything else: N(0, 0.02), residual projections
N(0, 0.02/sqrt(2L)), as train_base.py.

Loss per token = KL(p_teacher || p_student) + CE(labels), temperature 1, equal weights, on
batches of the same training split and the same batch recipe as the base/heads
(train_base.make_batch: each sequence <|bos|> + 511 tokens at a random offset of one corpus).
Several --arch values are trained together on the same batches (the teacher forward, the
expensive part, is shared) - used for the smoke run that picks the architecture.
AdamW (β 0.9/0.95, wd 0.1 on matrices), linear warmup, cosine decay to 10 % over the
wall-clock budget --minutes (or over --steps), grad clip 1.0, bf16 autocast.
Each batch is processed in micro-batches of --micro sequences (gradient accumulation; same
gradient as one pass) so that no [tokens, vocab] tensor exceeds glibc's mmap threshold (the
script re-executes itself with malloc tuning, see _MALLOC_ENV). Progress line every ~30 s; checkpoint $PPSD_WORK/ckpt/draft.pt every ~5 min (resumed if
present with the same --arch list). At the end: a quick held-out evaluation of every student
(8 windows x 512 per corpus: loss, α greedy, α sample), $PPSD_WORK/ckpt/draft_final.pt, and,
with a single --arch, the export to models/ppsd-mini-draft/ (also: --export-only).
"""
import argparse
import json
import math
import os
import shutil
import sys
import time

# glibc returns every allocation above M_MMAP_THRESHOLD to the kernel at free(), so each [tokens, 4096]
# logits tensor costs fresh page faults (measured: ~40 % of the CPU time as sys time). With the
# threshold at its maximum (32 MiB), micro-batches small enough that those tensors stay below it
# (--micro 2: 1024 x 4096 x 4 B = 16 MiB) and no trimming, the heap is reused: sys time / token ~1/4.
_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "4294967296",
               "MALLOC_TOP_PAD_": "268435456"}
if __name__ == "__main__" and any(k not in os.environ for k in _MALLOC_ENV):
    os.environ.update({k: v for k, v in _MALLOC_ENV.items() if k not in os.environ})
    os.execv(sys.executable, [sys.executable] + sys.argv)  # malloc reads these only at process start

import numpy as np
import torch
import torch.nn.functional as F

from common import WORK, MODEL_DIR, DRAFT_DIR, RECIPE_DIR
from export import load_exported
from model import Config, Llama, hf_state_dict, hf_config
from st_io import write_safetensors
from train_base import load_tokens, make_batch
from evaluate_draft import heldout_metrics, macs_per_token


def student_config(arch, teacher_cfg):
    spec = arch.split(":")[0]
    L, H = (int(v) for v in spec.split("x"))
    heads = 4 if H >= 96 else 2
    assert H % heads == 0 and (H // heads) % 2 == 0, arch
    return Config(vocab_size=teacher_cfg.vocab_size, hidden_size=H, intermediate_size=3 * H, num_hidden_layers=L,
                  num_attention_heads=heads, num_key_value_heads=heads // 2, head_dim=H // heads,
                  max_position_embeddings=teacher_cfg.max_position_embeddings, rms_norm_eps=teacher_cfg.rms_norm_eps,
                  rope_theta=teacher_cfg.rope_theta, tie_word_embeddings=True)


def build_student(arch, teacher, seed):
    torch.manual_seed(seed)
    cfg = student_config(arch, teacher.cfg)
    m = Llama(cfg)
    if not arch.endswith(":rand"):
        E = teacher.embed_tokens.weight.detach().float()
        _, _, Vh = torch.linalg.svd(E, full_matrices=False)
        with torch.no_grad():
            m.embed_tokens.weight.copy_(E @ Vh[:cfg.hidden_size].T)
    return m


def make_opt(m, lr):
    decay = [p for n, p in m.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in m.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.95), eps=1e-8)


def export(model, info, out_dir=DRAFT_DIR):
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), hf_state_dict(model))
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(hf_config(model.cfg), f, indent=2)
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copyfile(os.path.join(MODEL_DIR, name), os.path.join(out_dir, name))
    with open(os.path.join(out_dir, "training.json"), "w") as f:
        json.dump(info, f, indent=2)
    m2 = load_exported(out_dir)
    x = torch.randint(0, model.cfg.vocab_size, (1, 16))
    with torch.no_grad():
        assert torch.equal(model.eval()(x), m2(x)), "export round trip mismatch"
    print(f"exported -> {out_dir} ({os.path.getsize(os.path.join(out_dir, 'model.safetensors'))} bytes)", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="4x64", help="comma-separated LxH[:rand] students trained together")
    ap.add_argument("--minutes", type=float, default=28.0)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--prose-seqs", type=int, default=3)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--micro", type=int, default=2, help="sequences per micro-batch (gradient accumulation)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--seed", type=int, default=2468)
    ap.add_argument("--no-amp", action="store_true")
    ap.add_argument("--log-every", type=float, default=30.0, help="seconds between progress lines")
    ap.add_argument("--ckpt-name", default="draft", help="checkpoint $PPSD_WORK/ckpt/<name>.pt and <name>_final.pt")
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--export-only", action="store_true", help="export <name>_final.pt (one arch) and exit")
    args = ap.parse_args()
    amp = not args.no_amp
    torch.set_num_threads(2)
    archs = args.arch.split(",")
    ckdir = os.path.join(WORK, "ckpt")
    os.makedirs(ckdir, exist_ok=True)
    ckpath = os.path.join(ckdir, args.ckpt_name + ".pt")
    finalpath = os.path.join(ckdir, args.ckpt_name + "_final.pt")
    teacher = load_exported(MODEL_DIR)

    if args.export_only:
        d = torch.load(finalpath)
        assert len(d["students"]) == 1, "export needs a single-arch run"
        (arch, st), = d["students"].items()
        m = Llama(Config(**d["cfgs"][arch]))
        m.load_state_dict(st)
        export(m, d["info"][arch])
        return

    students = {a: build_student(a, teacher, args.seed + i) for i, a in enumerate(archs)}
    opts = {a: make_opt(m, args.lr) for a, m in students.items()}
    step, elapsed, tokens = 0, 0.0, 0
    rng = np.random.default_rng(args.seed)
    if os.path.exists(ckpath):
        ck = torch.load(ckpath)
        assert sorted(ck["students"]) == sorted(archs), f"checkpoint {ckpath} holds {sorted(ck['students'])}"
        for a in archs:
            students[a].load_state_dict(ck["students"][a])
            opts[a].load_state_dict(ck["opts"][a])
        step, elapsed, tokens = ck["step"], ck["elapsed"], ck["tokens"]
        rng.bit_generator.state = ck["rng"]
        print(f"resumed at step {step} ({elapsed / 60:.1f} min)", flush=True)
    streams = [load_tokens("prose", "train"), load_tokens("code", "train")]
    counts = [args.prose_seqs, args.batch - args.prose_seqs]
    budget = args.minutes * 60
    tmacs = macs_per_token(teacher.cfg)
    for a, m in students.items():
        n = sum(p.numel() for p in m.parameters())
        print(f"student {a}: params {n} ({n * 4 / 1e6:.2f} MB F32), macs/token {macs_per_token(m.cfg)} "
              f"({macs_per_token(m.cfg) / tmacs:.3f} of ppsd-mini), cfg {m.cfg.to_dict()}", flush=True)
    print(f"args {vars(args)}", flush=True)

    def progress():
        return step / args.steps if args.steps else elapsed / budget

    def save(path, final=False):
        d = {"students": {a: m.state_dict() for a, m in students.items()}, "step": step, "elapsed": elapsed,
             "tokens": tokens, "cfgs": {a: m.cfg.to_dict() for a, m in students.items()}}
        if final:
            d["info"] = info
        else:
            d |= {"opts": {a: o.state_dict() for a, o in opts.items()}, "rng": rng.bit_generator.state}
        torch.save(d, path + ".tmp")
        os.replace(path + ".tmp", path)

    hist = {a: [] for a in archs}
    t0 = time.time() - elapsed
    last_log, last_ck = time.time(), time.time()
    log_step, log_tokens = step, tokens
    while progress() < 1.0:
        if step < args.warmup:
            lr = args.lr * (step + 1) / args.warmup
        else:
            lr = args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress()))))
        x = make_batch(rng, streams, counts, args.seq + 1)
        for o in opts.values():
            o.zero_grad(set_to_none=True)
        sums = {a: [0.0, 0.0] for a in archs}
        nmb = math.ceil(x.shape[0] / args.micro)
        for mb in torch.split(x, args.micro):  # gradient accumulation over micro-batches (see the docstring)
            inp, labels = mb[:, :-1], mb[:, 1:].reshape(-1)
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                lt = teacher(inp)
            logp_t = F.log_softmax(lt.float().reshape(-1, lt.shape[-1]), -1)
            del lt
            for a, m in students.items():
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                    ls = m(inp)
                logp = F.log_softmax(ls.float().reshape(-1, ls.shape[-1]), -1)
                kl = F.kl_div(logp, logp_t, log_target=True, reduction="batchmean")
                ce = F.nll_loss(logp, labels)
                ((kl + ce) / nmb).backward()
                sums[a][0] += kl.item() / nmb
                sums[a][1] += ce.item() / nmb
        for a, m in students.items():
            for g in opts[a].param_groups:
                g["lr"] = lr
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opts[a].step()
            hist[a].append(tuple(sums[a]))
        step += 1
        tokens += x.shape[0] * (x.shape[1] - 1)
        elapsed = time.time() - t0
        now = time.time()
        if now - last_log >= args.log_every:
            tps = (tokens - log_tokens) / (now - last_log)
            eta = (args.steps - step) * (now - last_log) / max(1, step - log_step) if args.steps else budget - elapsed
            parts = [f"{a} kl {np.mean([k for k, _ in hist[a][-10:]]):.3f} ce {np.mean([c for _, c in hist[a][-10:]]):.3f}"
                     for a in archs]
            print(f"step {step} | " + " | ".join(parts) + f" | lr {lr:.2e} tok/s {tps:.0f} tokens {tokens} "
                  f"elapsed {elapsed / 60:.1f}m eta {max(0, eta) / 60:.1f}m", flush=True)
            last_log, log_step, log_tokens = now, step, tokens
        if now - last_ck > 300:
            save(ckpath)
            last_ck = time.time()
    minutes = elapsed / 60
    save(ckpath)
    info = {}
    for a, m in students.items():
        m.eval()
        last = hist[a][-20:]
        info[a] = {"arch": a, "steps": step, "tokens": tokens, "minutes": round(minutes, 1),
                   "params": sum(p.numel() for p in m.parameters()),
                   "loss": "KL(p_ppsd-mini || p_draft) + CE(labels), temperature 1",
                   "final_train_kl": round(float(np.mean([k for k, _ in last])), 4),
                   "final_train_ce": round(float(np.mean([c for _, c in last])), 4),
                   "lr": args.lr, "warmup": args.warmup, "batch": f"{args.batch}x{args.seq}",
                   "prose_seqs": args.prose_seqs, "seed": args.seed,
                   "init": "embedding random N(0, 0.02)" if a.endswith(":rand") else
                   "embedding = PCA projection of ppsd-mini's embedding (E_t V_H); rest N(0, 0.02)",
                   "teacher": "models/ppsd-mini (frozen)"}
    save(finalpath, final=True)
    print("quick held-out eval (8 windows x 512 per corpus, fp32):", flush=True)
    for corpus in ("prose", "code"):
        r = heldout_metrics(teacher, students, corpus, nseq=8)
        for a in archs:
            info[a][f"quick_{corpus}"] = {k: round(v, 4) for k, v in r[a].items() if k != "positions"}
            print(f"EVAL {corpus} {a}: loss {r[a]['loss']:.4f} α_greedy {r[a]['alpha_greedy']:.4f} "
                  f"α_sample {r[a]['alpha_sample']:.4f} kl {r[a]['kl']:.4f} (ppsd-mini loss {r['target']['loss']:.4f})",
                  flush=True)
    save(finalpath, final=True)
    with open(os.path.join(RECIPE_DIR, "logs", f"train_{args.ckpt_name}.json"), "w") as f:
        json.dump(info, f, indent=2)
    if len(archs) == 1 and not args.no_export:
        export(students[archs[0]], info[archs[0]])
    print("DONE", json.dumps(info), flush=True)


if __name__ == "__main__":
    main()
