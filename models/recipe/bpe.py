#!/usr/bin/env python3
"""Byte-level BPE (GPT-2 / LLaMA-3 style) trained from scratch, exported as a
Hugging Face tokenizer.json with LLaMA-3's structure.

Usage: bpe.py train   -> models/ppsd-mini/tokenizer.json, tokenizer_config.json
       bpe.py encode  -> $PPSD_WORK/tokens/{prose,code}.{train,heldout}.u16
                         (each document's ids followed by <|eos|>; no BOS)

Ids: 0 <|bos|>, 1 <|eos|>, 2 <|pad|>, 3..258 the 256 byte tokens (in byte order,
GPT-2 bytes_to_unicode alphabet), 259..4095 merges in training order.
"""
import collections
import heapq
import json
import os
import sys

import numpy as np
import regex

from common import WORK, MODEL_DIR, SPECIALS, VOCAB_SIZE, EOS

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
PAT = regex.compile(LLAMA3_PATTERN)
PROSE_WEIGHT = 4  # prose word counts are up-weighted in BPE training (prose is ~1/5 of the raw chars)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


B2U = bytes_to_unicode()
U2B = {v: k for k, v in B2U.items()}


def to_unicode(s):
    return "".join(B2U[b] for b in s.encode("utf-8"))


def read_docs(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)["text"]


def train():
    counts = collections.Counter()
    for name, w in (("prose", PROSE_WEIGHT), ("code", 1)):
        c = collections.Counter()
        for text in read_docs(os.path.join(WORK, "corpus", f"{name}.train.jsonl")):
            c.update(PAT.findall(text))
        for k, v in c.items():
            counts[k] += v * w
    print(f"{len(counts)} distinct pre-tokens", file=sys.stderr)

    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for b in range(256):
        vocab[B2U[b]] = len(vocab)
    id2tok = {i: s for s, i in vocab.items()}
    byte_id = {b: vocab[B2U[b]] for b in range(256)}

    words = []
    freqs = []
    for wstr, f in sorted(counts.items()):
        words.append([byte_id[b] for b in wstr.encode("utf-8")])
        freqs.append(f)
    pair_count = collections.defaultdict(int)
    where = collections.defaultdict(set)
    for wi, w in enumerate(words):
        f = freqs[wi]
        for a, b in zip(w, w[1:]):
            pair_count[(a, b)] += f
            where[(a, b)].add(wi)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    merges = []
    while len(vocab) < VOCAB_SIZE and heap:
        negc, pair = heapq.heappop(heap)
        c = pair_count.get(pair, 0)
        if c <= 0:
            continue
        if -negc != c:
            heapq.heappush(heap, (-c, pair))
            continue
        a, b = pair
        new_str = id2tok[a] + id2tok[b]
        if new_str in vocab:
            new_id = vocab[new_str]
        else:
            new_id = len(vocab)
            vocab[new_str] = new_id
            id2tok[new_id] = new_str
        merges.append((id2tok[a], id2tok[b]))
        changed = collections.defaultdict(int)
        for wi in list(where[pair]):
            w = words[wi]
            f = freqs[wi]
            for x, y in zip(w, w[1:]):
                changed[(x, y)] -= f
            nw = []
            i = 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    nw.append(new_id)
                    i += 2
                else:
                    nw.append(w[i])
                    i += 1
            words[wi] = nw
            for x, y in zip(nw, nw[1:]):
                changed[(x, y)] += f
                where[(x, y)].add(wi)
        for p, d in changed.items():
            if d == 0:
                continue
            pair_count[p] += d
            if d > 0:
                heapq.heappush(heap, (-pair_count[p], p))
        pair_count.pop(pair, None)
        where.pop(pair, None)
        if len(merges) % 500 == 0:
            print(f"{len(merges)} merges, vocab {len(vocab)}, last {new_str!r} ({c})", file=sys.stderr)
    write_tokenizer(vocab, merges)


def write_tokenizer(vocab, merges):
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, s in enumerate(SPECIALS)]
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|bos|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": "<|bos|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": "<|bos|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|bos|>": {"id": "<|bos|>", "ids": [0], "tokens": ["<|bos|>"]}}}]},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }
    os.makedirs(MODEL_DIR, exist_ok=True)
    with open(os.path.join(MODEL_DIR, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    cfg = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<|bos|>", "eos_token": "<|eos|>",
           "pad_token": "<|pad|>", "clean_up_tokenization_spaces": False, "model_max_length": 512,
           "tokenizer_class": "PreTrainedTokenizerFast",
           "added_tokens_decoder": {str(a["id"]): {k: v for k, v in a.items() if k != "id"} for a in added}}
    with open(os.path.join(MODEL_DIR, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2)
    print(f"tokenizer: {len(vocab)} tokens, {len(merges)} merges", file=sys.stderr)


class Tokenizer:
    """Encoder with Hugging Face BPE semantics (lowest-rank merge first, per pre-token)."""

    def __init__(self, path=os.path.join(MODEL_DIR, "tokenizer.json")):
        tok = json.load(open(path, encoding="utf-8"))
        self.vocab = tok["model"]["vocab"]
        self.id2tok = {i: s for s, i in self.vocab.items()}
        self.ranks = {}
        for r, m in enumerate(tok["model"]["merges"]):
            a, b = m.split(" ")
            self.ranks.setdefault((self.vocab[a], self.vocab[b]), (r, self.vocab[a + b]))
        self.cache = {}
        self.specials = {a["content"]: a["id"] for a in tok["added_tokens"]}
        self.special_re = regex.compile("(" + "|".join(regex.escape(s) for s in self.specials) + ")")

    def encode_word(self, w):
        ids = self.cache.get(w)
        if ids is not None:
            return ids
        ids = [self.vocab[c] for c in to_unicode(w)]
        ranks = self.ranks
        while len(ids) > 1:
            best = None
            for p in zip(ids, ids[1:]):
                r = ranks.get(p)
                if r is not None and (best is None or r[0] < best[0]):
                    best = (r[0], p, r[1])
            if best is None:
                break
            _, (a, b), nid = best
            out = []
            i = 0
            while i < len(ids):
                if i + 1 < len(ids) and ids[i] == a and ids[i + 1] == b:
                    out.append(nid)
                    i += 2
                else:
                    out.append(ids[i])
                    i += 1
            ids = out
        self.cache[w] = ids
        return ids

    def encode(self, text, add_bos=True):
        out = [0] if add_bos else []
        for part in self.special_re.split(text):
            if not part:
                continue
            if part in self.specials:
                out.append(self.specials[part])
                continue
            for w in PAT.findall(part):
                out.extend(self.encode_word(w))
        return out

    def decode(self, ids, skip_special=True):
        bs = bytearray()
        for i in ids:
            s = self.id2tok[int(i)]
            if i < len(SPECIALS):
                if not skip_special:
                    bs += s.encode()
                continue
            bs += bytes(U2B[c] for c in s)
        return bs.decode("utf-8", errors="replace")


def encode_corpus():
    tk = Tokenizer()
    os.makedirs(os.path.join(WORK, "tokens"), exist_ok=True)
    for name in ("prose", "code"):
        for split in ("train", "heldout"):
            ids = []
            nchars = 0
            for text in read_docs(os.path.join(WORK, "corpus", f"{name}.{split}.jsonl")):
                ids.extend(tk.encode(text, add_bos=False))
                ids.append(EOS)
                nchars += len(text)
            arr = np.array(ids, dtype=np.uint16)
            arr.tofile(os.path.join(WORK, "tokens", f"{name}.{split}.u16"))
            print(f"{name}.{split}: {len(arr)} tokens, {nchars / len(arr):.2f} chars/token", file=sys.stderr)


if __name__ == "__main__":
    {"train": train, "encode": encode_corpus}[sys.argv[1]]()
