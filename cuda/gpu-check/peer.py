#!/usr/bin/env python3
"""The GPU check's peer (issue #14): PyTorch/transformers decoding the model write_model.py wrote,
batch 1, greedy, the same prompts as the Java half (DeviceCheck.prompt: token i of a context of
length n is 2 + (7919 i + n) mod (vocab - 2)), the same contexts and token counts.

  eager:     LlamaForCausalLM in bfloat16 (SDPA attention), dynamic cache, one forward per token
  compiled:  static cache + torch.compile(mode="reduce-overhead") through generate(), if the
             time left (--budget-s) allows; the per-token time is (T(1 + n) - T(1)) / n

Also measures the device's copy bandwidth (a 2 GiB device-to-device copy, best of 10: bytes read
plus written per second), the reference for "share of the bandwidth limit". Writes --out JSON.
"""
import argparse
import json
import statistics
import sys
import time


def prompt(length, vocab):
    return [2 + (i * 7919 + length) % (vocab - 2) for i in range(length)]


def copy_bandwidth(torch):
    n = 2 << 30
    a = torch.empty(n, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    best = float("inf")
    for _ in range(10):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        b.copy_(a)
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end) / 1e3)
    del a, b
    return 2 * n / best


def eager(torch, model, ids, tokens):
    with torch.no_grad():
        out = model(ids, use_cache=True)
        past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
        times, produced = [], []
        for step in range(-8, tokens):
            torch.cuda.synchronize()
            t = time.perf_counter()
            out = model(tok, past_key_values=past, use_cache=True)
            past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
            value = int(tok.item())
            if step >= 0:
                times.append(time.perf_counter() - t)
                produced.append(value)
    return statistics.median(times), produced


def compiled(torch, model, ids, tokens):
    def run(n):
        torch.cuda.synchronize()
        t = time.perf_counter()
        out = model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, cache_implementation="static")
        torch.cuda.synchronize()
        return time.perf_counter() - t, out[0, ids.shape[1]:].tolist()

    run(1 + tokens)  # compiles (and captures the graphs) for this prompt length
    one = min(run(1)[0] for _ in range(3))
    full, produced = min((run(1 + tokens) for _ in range(3)), key=lambda r: r[0])
    return (full - one) / tokens, produced[1:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--contexts", default="128,512,2048")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--budget-s", type=float, default=240, help="skip the compiled runs once this much time has passed")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    began = time.time()
    result = {"engine": "transformers", "rows": []}
    try:
        import torch
        import transformers
    except ImportError as e:
        result["skipped"] = f"cannot import torch/transformers ({e})"
        print("peer: skipped:", result["skipped"])
        json.dump(result, open(a.out, "w"), indent=1)
        return 0
    if not torch.cuda.is_available():
        result["skipped"] = "torch sees no CUDA device"
        print("peer: skipped:", result["skipped"])
        json.dump(result, open(a.out, "w"), indent=1)
        return 0
    result.update(device=torch.cuda.get_device_name(0), torch=torch.__version__, transformers=transformers.__version__)
    result["copy_bytes_per_s"] = copy_bandwidth(torch)
    print(f"peer: {result['device']}, torch {torch.__version__}, transformers {transformers.__version__}; "
          f"device-to-device copy {result['copy_bytes_per_s'] / 1e9:.0f} GB/s (read + write)")
    t = time.time()
    try:  # transformers 5 names it dtype; 4.x torch_dtype
        model = transformers.LlamaForCausalLM.from_pretrained(a.model, dtype=torch.bfloat16, attn_implementation="sdpa")
    except TypeError:
        model = transformers.LlamaForCausalLM.from_pretrained(a.model, torch_dtype=torch.bfloat16, attn_implementation="sdpa")
    model = model.cuda().eval()
    vocab = model.config.vocab_size
    print(f"peer: loaded in {time.time() - t:.1f} s")
    contexts = [int(c) for c in a.contexts.split(",")]
    for kind in ("eager", "compiled"):
        if kind == "compiled":
            if time.time() - began > a.budget_s:
                result["compiled_skipped"] = f"time budget of {a.budget_s:.0f} s spent"
                print("peer: compiled runs skipped:", result["compiled_skipped"])
                break
            model.forward = torch.compile(model.forward, mode="reduce-overhead", fullgraph=True)
        for context in contexts:
            ids = torch.tensor([prompt(context, vocab)], device="cuda")
            try:
                per_token, produced = (eager if kind == "eager" else compiled)(torch, model, ids, a.tokens)
            except Exception as e:  # a transformers/compile version difference: reported, the check goes on
                print(f"peer: {kind} context {context} failed: {type(e).__name__}: {e}")
                result["rows"].append({"context": context, "path": kind, "error": f"{type(e).__name__}: {e}"[:300]})
                continue
            print(f"peer: context {context:5d} {kind:8s} {per_token * 1e3:8.3f} ms/token {1 / per_token:7.1f} tokens/s")
            result["rows"].append({"context": context, "path": kind, "median_s": per_token, "tokens_per_s": 1 / per_token, "tokens": produced})
            json.dump(result, open(a.out, "w"), indent=1)
            if kind == "compiled" and time.time() - began > a.budget_s + 120:
                result["compiled_skipped"] = "time budget spent after context %d" % context
                break
    json.dump(result, open(a.out, "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
