"""Writes models/ppsd-mini/token_frequencies.json: every token id of the vocabulary, most frequent
first, counted on the recipe's training split (prose and code weighted equally, as the training
batches mix them), for reduced-vocabulary draft heads (`--head transformer-l4+v1024`: the head
drafts among the 1024 most frequent tokens; see models/README.md and DraftVocabulary.java).

Usage: python3 token_frequencies.py   (needs $PPSD_WORK/tokens/{prose,code}.train.u16 from bpe.py encode)
"""
import json
import os

import numpy as np

from common import MODEL_DIR, VOCAB_SIZE, WORK


def main():
    shares = np.zeros(VOCAB_SIZE, dtype=np.float64)
    counted = 0
    for corpus in ("prose", "code"):
        tokens = np.fromfile(os.path.join(WORK, "tokens", f"{corpus}.train.u16"), dtype=np.uint16)
        counts = np.bincount(tokens, minlength=VOCAB_SIZE).astype(np.float64)
        shares += counts / counts.sum()  # each corpus weighs the same
        counted += int(tokens.size)
    # Most frequent first; ties (tokens never seen) by id, so the order is deterministic.
    order = sorted(range(VOCAB_SIZE), key=lambda t: (-shares[t], t))
    out = {
        "format_version": 1,
        "description": "ppsd-mini's tokens, most frequent first, on the recipe's training split "
                       "(prose and code weighted equally); counts are per-corpus shares summed (0..2)",
        "source": "models/recipe/token_frequencies.py",
        "tokens_counted": counted,
        "token_ids": order,
        "counts": [round(float(shares[t]), 9) for t in order],
    }
    path = os.path.join(MODEL_DIR, "token_frequencies.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    cover = np.cumsum(np.sort(shares)[::-1]) / 2
    for k in (256, 512, 1024, 2048):
        print(f"top {k:5d} tokens cover {cover[k - 1]:.3f} of the training text", flush=True)
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {counted} tokens counted)")


if __name__ == "__main__":
    main()
