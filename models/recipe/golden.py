#!/usr/bin/env python3
"""Golden reference outputs for the Java engine, computed with PyTorch in float64 from the
exported F32 weights (models/ppsd-mini/golden/golden.json) and tokenizer goldens
(models/ppsd-mini/golden/tokens.json).

`golden.py --model DIR` does the same for another exported model with ppsd-mini's tokenizer
(e.g. the draft, models/ppsd-mini-draft): DIR/golden/golden.json for the same 4 prompts (from
models/ppsd-mini/prompts), with the exit-head entries empty when DIR has no exit_heads/; the
tokenizer goldens are written only for ppsd-mini (the tokenizer is the same file)."""
import argparse
import json
import os

import torch

from bpe import Tokenizer
from evaluate import greedy
from common import MODEL_DIR
from export import load_exported
from heads import load_head, head_name
from train_heads import head_specs

TOKEN_STRINGS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "It's a dog's life, isn't it? They'll say we'd've known.",
    "In 1961, the jury said 12,345 votes were cast -- 3.14159 percent more than in 1958.",
    "public static void main(String[] args) {\n    System.out.println(\"hi\");\n}\n",
    "    /**\n     * Returns the {@code int} value.\n     */\n",
    "for (int i = 0; i < n; i++) { sum += a[i] * b[i]; }",
    "x<<=2; y>>>=3; z != null && z.isEmpty() || w == 0x7fffffffL",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber Stra\u00dfe",
    "\u0417\u0434\u0440\u0430\u0432\u0441\u0442\u0432\u0443\u0439, \u043c\u0438\u0440! \u03b1\u03b2\u03b3 \u03b4",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u4e2d\u6587",
    "Emoji: \U0001F600\U0001F680 and \U0001F468\u200d\U0001F469\u200d\U0001F467 family \u2764\ufe0f",
    "tabs\tand\t\tmultiple   spaces    here",
    "trailing spaces   \n\n\n  leading and blank lines\r\nwindows line\r\n",
    "       ",
    "1234567890 123 4567 89",
    "MixedCASE camelCaseIdentifier snake_case_name SCREAMING_CASE",
    "URL: https://example.com/path?query=1&x=y#frag",
    "He said \"yes\" (and then 'no').",
    "",
]


def compact(xs):
    return [float(f"{float(v):.7g}") for v in xs]


def write_tokens(tok, gdir):
    tokens = [{"text": s, "ids": tok.encode(s, add_bos=True), "ids_no_bos": tok.encode(s, add_bos=False)}
              for s in TOKEN_STRINGS]
    for t in tokens:
        assert tok.decode(t["ids"]) == t["text"], t
    with open(os.path.join(gdir, "tokens.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer": "models/ppsd-mini/tokenizer.json", "note": "ids include the <|bos|> (0) prepended "
                   "by the post-processor; ids_no_bos = add_special_tokens=False", "cases": tokens},
                  f, ensure_ascii=False, indent=1)


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=MODEL_DIR)
    args = ap.parse_args()
    model_dir = os.path.abspath(args.model)
    is_base = model_dir == os.path.abspath(MODEL_DIR)
    torch.set_num_threads(2)
    tok = Tokenizer(os.path.join(model_dir, "tokenizer.json"))
    gdir = os.path.join(model_dir, "golden")
    os.makedirs(gdir, exist_ok=True)
    if is_base:
        write_tokens(tok, gdir)
    base = load_exported(model_dir).double()
    N = base.cfg.num_hidden_layers
    heads = {}
    if os.path.isdir(os.path.join(model_dir, "exit_heads")):
        for kind, E in head_specs(N):
            n = head_name(kind, E)
            heads[n], _ = load_head(base, os.path.join(model_dir, "exit_heads"), n)
            heads[n].double()
    prompts = []
    for corpus in ("prose", "code"):
        rows = [json.loads(l) for l in open(os.path.join(MODEL_DIR, "prompts", f"{corpus}.jsonl"))]
        prompts += rows[:2]
    cases = []
    for p in prompts:
        ids = tok.encode(p["text"])
        x = torch.tensor([ids])
        logits, hidden = base(x, return_hidden=True)
        margins = []
        seq = greedy(base, ids, 32, margins)
        # cross-check the cached decode against a full-sequence forward
        assert base(torch.tensor([seq[:-1]]))[0, len(ids) - 1:].argmax(-1).tolist() == seq[len(ids):]
        cases.append({
            "id": p["id"], "text": p["text"], "input_ids": ids,
            "last_logits": compact(logits[0, -1].tolist()),
            "argmax_per_position": logits[0].argmax(-1).tolist(),
            "greedy_continuation": seq[len(ids):],
            "greedy_min_margin": min(margins),
            "greedy_text": tok.decode(seq[len(ids):]),
            "head_last_logits": {n: compact(h(hidden[h.E])[0, -1].tolist()) for n, h in heads.items()},
            "head_exit_layers": {n: h.E for n, h in heads.items()},
        })
    out = {"model": "models/" + os.path.basename(model_dir), "compute": "PyTorch float64 from the exported F32 weights",
           "format": "logits rounded to 7 significant digits", "cases": cases}
    with open(os.path.join(gdir, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
    print("golden:", os.path.getsize(os.path.join(gdir, "golden.json")), "bytes")
    for c in cases:
        print(c["id"], "margin", round(c["greedy_min_margin"], 4), repr(c["greedy_text"][:80]))


if __name__ == "__main__":
    main()
