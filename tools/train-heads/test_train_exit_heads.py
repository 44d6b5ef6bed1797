"""Tests of train_exit_heads.py:  /usr/bin/python3 -m unittest discover tools/train-heads

1. the trainer's forward on tiny random LLaMA / Qwen2 (biases) / Qwen3 (q/k norms) checkpoints, written
   here with this file's own safetensors writer, against a float64 reference written independently below;
2. the built-in tokenizer against models/ppsd-mini/golden/tokens.json;
3. a few training steps on models/ppsd-mini: the loss goes down, the files have the runtime's names/keys/shapes;
4. --resume continues the run (bit-identical to an uninterrupted one);
5. clear errors for bad input.
"""
import contextlib
import io
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MINI = os.path.join(REPO, "models", "ppsd-mini")
sys.path.insert(0, HERE)
import train_exit_heads as T  # noqa: E402

torch.set_num_threads(1)

# keys ExitHeadFile (runtime) accepts in exit_heads/<name>.json
RUNTIME_KEYS = {"format_version", "name", "kind", "exit_layer", "tensors", "dtype", "trained", "description"}


# ---------------------------------------------------------------------------------------------
# test-side fixtures: an own safetensors writer and tiny random checkpoints

def to_bf16_bits(a):
    """float32 array -> uint16 bf16 bits (round to nearest even) and the float64 values they denote."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    back = (r.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return r, back


def st_write(path, arrays):
    """arrays: name -> (dtype string, numpy array of the stored bytes' type)."""
    header, blobs, off = {}, [], 0
    for name, (dt, a) in arrays.items():  # insertion order, not sorted: the reader must not care
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def make_checkpoint(d, kind="llama", dtype="F32", shards=1, tie=False, seed=0):
    """A tiny random checkpoint; returns (config dict, {name: float64 array of the stored values})."""
    rng = np.random.default_rng(seed)
    C, I, L, H, KV, V = 48, 80, 3, 4, 2, 97
    D = 16 if kind == "qwen3" else C // H  # qwen3: head_dim != hidden / heads
    cfg = {"architectures": ["X"], "model_type": {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3"}[kind],
           "hidden_size": C, "intermediate_size": I, "num_hidden_layers": L, "num_attention_heads": H,
           "num_key_value_heads": KV, "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "vocab_size": V,
           "tie_word_embeddings": tie, "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu"}
    if kind == "llama":
        cfg["rope_theta"] = 500000.0
        cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0, "original_max_position_embeddings": 16}
    elif kind == "qwen2":
        cfg["rope_theta"] = 1000000.0
        cfg["sliding_window"] = 32
        cfg["use_sliding_window"] = False
    else:
        cfg["rope_theta"] = 1000000.0
        cfg["head_dim"] = D
        cfg["attention_bias"] = False
    w = {"model.embed_tokens.weight": rng.normal(0, 1.0, (V, C)), "model.norm.weight": 1 + 0.1 * rng.normal(size=C)}
    for i in range(L):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = 1 + 0.1 * rng.normal(size=C)
        w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * rng.normal(size=C)
        w[p + "self_attn.q_proj.weight"] = rng.normal(0, 0.3, (H * D, C))
        w[p + "self_attn.k_proj.weight"] = rng.normal(0, 0.3, (KV * D, C))
        w[p + "self_attn.v_proj.weight"] = rng.normal(0, 0.2, (KV * D, C))
        w[p + "self_attn.o_proj.weight"] = rng.normal(0, 0.2, (C, H * D))
        w[p + "mlp.gate_proj.weight"] = rng.normal(0, 0.2, (I, C))
        w[p + "mlp.up_proj.weight"] = rng.normal(0, 0.2, (I, C))
        w[p + "mlp.down_proj.weight"] = rng.normal(0, 0.2, (C, I))
        if kind == "qwen2":
            w[p + "self_attn.q_proj.bias"] = rng.normal(0, 0.5, H * D)
            w[p + "self_attn.k_proj.bias"] = rng.normal(0, 0.5, KV * D)
            w[p + "self_attn.v_proj.bias"] = rng.normal(0, 0.5, KV * D)
        if kind == "qwen3":
            w[p + "self_attn.q_norm.weight"] = 1 + 0.2 * rng.normal(size=D)
            w[p + "self_attn.k_norm.weight"] = 1 + 0.2 * rng.normal(size=D)
    if not tie:
        w["lm_head.weight"] = rng.normal(0, 0.3, (V, C))
    stored, values = {}, {}
    for n, a in w.items():
        a32 = a.astype(np.float32)
        if dtype == "BF16":
            bits, back = to_bf16_bits(a32)
            stored[n], values[n] = ("BF16", bits), back
        elif dtype == "F16":
            a16 = a32.astype(np.float16)
            stored[n], values[n] = ("F16", a16), a16.astype(np.float64)
        else:
            stored[n], values[n] = ("F32", a32), a32.astype(np.float64)
    os.makedirs(d, exist_ok=True)
    names = list(stored)
    if shards == 1:
        st_write(os.path.join(d, "model.safetensors"), stored)
    else:
        wm = {}
        for s in range(shards):
            part = names[s::shards]
            fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            st_write(os.path.join(d, fn), {n: stored[n] for n in part})
            wm |= {n: fn for n in part}
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": wm}, f)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    return cfg, values


# ---------------------------------------------------------------------------------------------
# independent float64 reference: explicit per-head, per-position loops

def ref_inv_freq(cfg, D):
    theta = cfg["rope_theta"]
    inv = [1.0 / theta ** (2 * i / D) for i in range(D // 2)]
    rs = cfg.get("rope_scaling")
    if rs:
        out = []
        for f in inv:
            wl = 2 * math.pi / f
            lo_wl = rs["original_max_position_embeddings"] / rs["low_freq_factor"]
            hi_wl = rs["original_max_position_embeddings"] / rs["high_freq_factor"]
            if wl < hi_wl:
                out.append(f)
            elif wl > lo_wl:
                out.append(f / rs["factor"])
            else:
                s = (rs["original_max_position_embeddings"] / wl - rs["low_freq_factor"]) / (
                    rs["high_freq_factor"] - rs["low_freq_factor"])
                out.append((1 - s) * f / rs["factor"] + s * f)
        inv = out
    return inv


def ref_rms(x, w, eps):
    return w * (x / math.sqrt(float(np.mean(x * x)) + eps))


def ref_rope(vec, pos, inv):
    D = len(vec)
    out = np.empty(D)
    for i in range(D // 2):
        c, s = math.cos(pos * inv[i]), math.sin(pos * inv[i])
        a, b = vec[i], vec[i + D // 2]
        out[i] = a * c - b * s
        out[i + D // 2] = b * c + a * s
    return out


def ref_layer(cfg, w, i, xs, inv):
    """xs: list of [C] rows (positions 0..T-1) -> rows after decoder layer i."""
    p = f"model.layers.{i}."
    C, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim") or C // H
    eps = cfg["rms_norm_eps"]
    bias = lambda n: w.get(p + n, 0.0)
    qs, ks, vs = [], [], []
    for t, x in enumerate(xs):
        h = ref_rms(x, w[p + "input_layernorm.weight"], eps)
        q = w[p + "self_attn.q_proj.weight"] @ h + bias("self_attn.q_proj.bias")
        k = w[p + "self_attn.k_proj.weight"] @ h + bias("self_attn.k_proj.bias")
        v = w[p + "self_attn.v_proj.weight"] @ h + bias("self_attn.v_proj.bias")
        qh = [q[j * D:(j + 1) * D] for j in range(H)]
        kh = [k[j * D:(j + 1) * D] for j in range(KV)]
        if p + "self_attn.q_norm.weight" in w:
            qh = [ref_rms(a, w[p + "self_attn.q_norm.weight"], eps) for a in qh]
            kh = [ref_rms(a, w[p + "self_attn.k_norm.weight"], eps) for a in kh]
        qs.append([ref_rope(a, t, inv) for a in qh])
        ks.append([ref_rope(a, t, inv) for a in kh])
        vs.append([v[j * D:(j + 1) * D] for j in range(KV)])
    out = []
    for t, x in enumerate(xs):
        heads = []
        for j in range(H):
            g = j // (H // KV)
            sc = np.array([qs[t][j] @ ks[u][g] / math.sqrt(D) for u in range(t + 1)])
            pr = np.exp(sc - sc.max())
            pr /= pr.sum()
            heads.append(sum(pr[u] * vs[u][g] for u in range(t + 1)))
        x = x + w[p + "self_attn.o_proj.weight"] @ np.concatenate(heads)
        h = ref_rms(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = w[p + "mlp.gate_proj.weight"] @ h
        x = x + w[p + "mlp.down_proj.weight"] @ ((gate / (1 + np.exp(-gate))) * (w[p + "mlp.up_proj.weight"] @ h))
        out.append(x)
    return out


def ref_logits(cfg, w, ids, stop_after=None):
    """Logits [T, V]; with stop_after=E: the final norm + LM head applied after layer E (the norm head)."""
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    inv = ref_inv_freq(cfg, cfg.get("head_dim") or C // H)
    xs = [w["model.embed_tokens.weight"][i].copy() for i in ids]
    for i in range(cfg["num_hidden_layers"] if stop_after is None else stop_after):
        xs = ref_layer(cfg, w, i, xs, inv)
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return np.stack([head @ ref_rms(x, w["model.norm.weight"], cfg["rms_norm_eps"]) for x in xs])


# ---------------------------------------------------------------------------------------------

def run_trainer(argv):
    """Runs the trainer in-process; returns (exit status, stdout, stderr, results or None)."""
    out, err = io.StringIO(), io.StringIO()
    res = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        args = T.build_parser().parse_args(argv)
        try:
            res = T.run(args)
            code = 0
        except T.TrainerError as e:
            print(f"{T.PROG}: error: {e}", file=sys.stderr)
            code = 2
    return code, out.getvalue(), err.getvalue(), res


class ForwardTest(unittest.TestCase):
    IDS = [1, 5, 17, 96, 3, 42, 42, 0, 63]

    def check(self, kind, **kw):
        with tempfile.TemporaryDirectory() as d:
            cfg, w = make_checkpoint(d, kind, **kw)
            model = T.FrozenModel(d, dtype=torch.float64)
            with torch.no_grad():
                xn, hidden = model.forward(torch.tensor([self.IDS]), exits=(1, 2))
                got = model.logits(xn)[0].numpy()
            want = ref_logits(cfg, w, self.IDS)
            self.assertGreater(float(np.std(want)), 0.5, "logits too flat for the comparison to mean much")
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=f"{kind} {kw}")
            self.assertEqual(int(np.argmax(got[-1])), int(np.argmax(want[-1])))
            # heads at initialization: norm-lE = final norm + LM head after E layers; linear-lE is the same;
            # transformer-lE is a copy of layer E, so it equals the norm head after E+1 layers
            with torch.no_grad():
                for kind_h, E, stop in (("norm", 1, 1), ("linear", 1, 1), ("transformer", 1, 2), ("transformer", 2, 3)):
                    h = T.Head(kind_h, E, model)
                    lg = h.logits(h.features(hidden[E]))[0].numpy()
                    np.testing.assert_allclose(lg, ref_logits(cfg, w, self.IDS, stop_after=stop), rtol=0, atol=1e-6,
                                               err_msg=f"{kind} head {kind_h}-l{E}")
            return model

    def test_llama_gqa_llama3_rope_untied(self):
        self.check("llama")

    def test_llama_bf16_sharded_tied(self):
        self.check("llama", dtype="BF16", shards=3, tie=True)

    def test_llama_f16(self):
        self.check("llama", dtype="F16", seed=3)

    def test_qwen2_biases(self):
        self.check("qwen2", tie=True, seed=1)

    def test_qwen3_qk_norm_head_dim(self):
        self.check("qwen3", seed=2)

    def test_kv_cache_greedy_matches_full_forward(self):
        with tempfile.TemporaryDirectory() as d:
            make_checkpoint(d, "qwen3", seed=4)
            model = T.FrozenModel(d, dtype=torch.float64)
            seq = model.greedy([1, 5, 17], 6)
            with torch.no_grad():
                xn, _ = model.forward(torch.tensor([seq[:-1]]))
                arg = model.logits(xn)[0].argmax(-1).tolist()
            self.assertEqual(arg[2:], seq[3:])

    def test_zero_copy_f32_weights(self):
        with tempfile.TemporaryDirectory() as d:
            make_checkpoint(d, "llama")
            model = T.FrozenModel(d)  # float32 from F32: views of the memory map, no copies
            self.assertEqual(model.embed.dtype, torch.float32)
            f = next(iter(model.files.values()))
            self.assertEqual(model.embed.data_ptr(), f.get("model.embed_tokens.weight").data_ptr())


class LossTest(unittest.TestCase):
    def test_fused_loss_matches_autograd(self):
        """head_loss (one exp pass, closed-form gradient) against KL + CE written with torch's own ops."""
        g = torch.Generator().manual_seed(0)
        for dt, tol in ((torch.float64, 1e-9), (torch.float32, 2e-4)):
            tl = torch.randn(37, 101, generator=g, dtype=dt) * 3
            lg = torch.randn(37, 101, generator=g, dtype=dt) * 3
            y = torch.randint(0, 101, (37,), generator=g)
            tp, neg_entropy, lse = T.teacher_stats(tl)
            kl, ce, grad = T.head_loss(lg, tp, neg_entropy, y, grad_scale=0.5)
            x = lg.clone().requires_grad_(True)
            t_logp = torch.log_softmax(tl, -1)
            logp = torch.log_softmax(x, -1)
            ref_kl = (t_logp.exp() * (t_logp - logp)).sum()
            ref_ce = -logp[torch.arange(37), y].sum()
            ((ref_kl + ref_ce) * 0.5).backward()
            self.assertAlmostEqual(kl, ref_kl.item(), delta=tol * 37)
            self.assertAlmostEqual(ce, ref_ce.item(), delta=tol * 37)
            self.assertLess(float((grad - x.grad).abs().max()), tol)
            torch.testing.assert_close(lse, torch.logsumexp(tl, -1))


class TokenizerTest(unittest.TestCase):
    def test_builtin_matches_golden_ids(self):
        tok = T.BuiltinTokenizer(os.path.join(MINI, "tokenizer.json"))
        with open(os.path.join(MINI, "golden", "tokens.json")) as f:
            cases = json.load(f)["cases"]
        self.assertGreaterEqual(len(cases), 20)
        for c in cases:
            self.assertEqual(tok.encode(c["text"]), c["ids_no_bos"], c["text"])
            self.assertEqual(tok.prefix_ids + tok.encode(c["text"]), c["ids"], c["text"])
        with open(os.path.join(MINI, "golden", "golden.json")) as f:
            for c in json.load(f)["cases"]:
                self.assertEqual(tok.prefix_ids + tok.encode(c["text"]), c["input_ids"])

    def test_builtin_sentencepiece_style(self):
        """Metaspace-style BPE with byte fallback (LLaMA-2 / Mistral layout), on a hand-made vocabulary."""
        vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<0xC3>": 3, "<0xA9>": 4, "\u2581": 5, "a": 6, "b": 7,
                 "\u2581a": 8, "ab": 9, "\u2581ab": 10}
        tj = {"added_tokens": [{"id": 1, "content": "<s>", "special": True}, {"id": 2, "content": "</s>", "special": True}],
              "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                                  {"type": "Replace", "pattern": {"String": " "},
                                                                   "content": "\u2581"}]},
              "pre_tokenizer": None,
              "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}},
                                                                          {"Sequence": {"id": "A"}}],
                                 "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
              "model": {"type": "BPE", "vocab": vocab, "merges": ["\u2581 a", "\u2581a b", "a b"],
                        "byte_fallback": True, "unk_token": "<unk>"}}
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "tokenizer.json")
            with open(p, "w") as f:
                json.dump(tj, f)
            tok = T.BuiltinTokenizer(p)
        self.assertEqual(tok.prefix_ids, [1])
        # "ab ba é</s>" -> ▁ab ▁ b a ▁ <0xC3><0xA9> </s>  ("▁b" is no token; é by byte fallback)
        self.assertEqual(tok.encode("ab ba \u00e9</s>"), [10, 5, 7, 6, 5, 3, 4, 2])


class TrainOnPpsdMiniTest(unittest.TestCase):
    HEADS = "norm:4,linear:4,transformer:4,transformer:8"

    def common(self, out, extra=()):
        return [MINI, "--heads", self.HEADS, "--jsonl", os.path.join(MINI, "prompts", "code.jsonl"),
                "--jsonl", os.path.join(MINI, "prompts", "prose.jsonl"), "--out", out, "--batch", "4", "--seq", "64",
                "--threads", "1", "--heldout", "0.15", "--lr", "3e-3", "--warmup", "0", "--log-every", "0",
                "--seed", "7"] + list(extra)

    def test_loss_goes_down_and_files_match_the_runtime_format(self):
        with tempfile.TemporaryDirectory() as d:
            code, _, err, before = run_trainer(self.common(os.path.join(d, "init"), ["--steps", "0"]))
            self.assertEqual(code, 0, err)
            out = os.path.join(d, "heads")
            code, stdout, err, res = run_trainer(self.common(out, ["--steps", "12", "--eval-jsonl",
                                                                   os.path.join(MINI, "prompts", "prose.jsonl"),
                                                                   "--eval-prompts", "2", "--eval-gen", "8"]))
            self.assertEqual(code, 0, err)
            self.assertEqual(res["steps"], 12)
            self.assertRegex(err, r"step 12/12 .*tok/s .*ETA")
            self.assertIn("α held-out", stdout)
            self.assertIn("α prose", stdout)
            for name in ("linear-l4", "transformer-l4", "transformer-l8"):
                b, a = before["heldout"]["heads"][name], res["heldout"]["heads"][name]
                self.assertLess(a["kl"] + a["ce"], b["kl"] + b["ce"] - 0.05, f"{name}: held-out loss did not go down")
            b, a = before["heldout"]["heads"]["norm-l4"], res["heldout"]["heads"]["norm-l4"]
            self.assertAlmostEqual(a["kl"], b["kl"], places=6)  # nothing to train
            for name, r in res["heads"].items():
                self.assertTrue(0.0 <= r["alpha"] <= 1.0)

            files = sorted(f for f in os.listdir(out) if not f.startswith("."))
            self.assertEqual(files, ["linear-l4.json", "linear-l4.safetensors", "norm-l4.json", "transformer-l4.json",
                                     "transformer-l4.safetensors", "transformer-l8.json", "transformer-l8.safetensors"])
            for name, kind, E in (("norm-l4", "norm", 4), ("linear-l4", "linear", 4),
                                  ("transformer-l4", "transformer", 4), ("transformer-l8", "transformer", 8)):
                with open(os.path.join(out, name + ".json")) as f:
                    meta = json.load(f)
                self.assertLessEqual(set(meta), RUNTIME_KEYS)
                self.assertEqual((meta["format_version"], meta["name"], meta["kind"], meta["exit_layer"], meta["dtype"]),
                                 (1, name, kind, E, "F32"))
                self.assertEqual(meta["trained"]["steps"], 0 if kind == "norm" else 12)
                self.assertIn("alpha_prose", meta["trained"])
                with open(os.path.join(MINI, "exit_heads", f"{kind}-l4.json")) as f:
                    shipped = json.load(f)
                self.assertEqual(meta["tensors"], shipped["tensors"], f"{name}: tensors differ from the shipped head's")
                if kind == "norm":
                    continue
                st = T.SafetensorsFile(os.path.join(out, name + ".safetensors"))
                self.assertEqual({n: list(st.entries[n][1]) for n in st.names()}, meta["tensors"])
                self.assertEqual({st.entries[n][0] for n in st.names()}, {"F32"})
                for n in st.names():
                    self.assertTrue(torch.isfinite(st.get(n)).all())
            # the trained transformer head moved away from its initialization (layer E of the model)
            st = T.SafetensorsFile(os.path.join(out, "transformer-l4.safetensors"))
            model = T.SafetensorsFile(os.path.join(MINI, "model.safetensors"))
            self.assertGreater(float((st.get("layer.mlp.up_proj.weight")
                                      - model.get("model.layers.4.mlp.up_proj.weight")).abs().max()), 1e-4)

    def test_resume_continues_the_run(self):
        with tempfile.TemporaryDirectory() as d:
            straight = os.path.join(d, "straight")
            code, _, err, _ = run_trainer(self.common(straight, ["--steps", "4", "--heads", "linear:4,transformer:4"]))
            self.assertEqual(code, 0, err)
            split = os.path.join(d, "split")
            args = self.common(split, ["--steps", "4", "--heads", "linear:4,transformer:4"])
            code, _, err, res = run_trainer(args + ["--stop-after", "2"])
            self.assertEqual((code, res["steps"]), (0, 2), err)
            state = torch.load(os.path.join(split, ".train_exit_heads", "state.pt"))
            self.assertEqual(state["step"], 2)
            code, _, err, res = run_trainer(args + ["--resume"])
            self.assertEqual(code, 0, err)
            self.assertIn("resumed from", err)
            self.assertIn("step 2", err)
            self.assertRegex(err, r"step 3/4")
            self.assertNotRegex(err, r"step 1/4")
            self.assertEqual(res["steps"], 4)
            with open(os.path.join(split, "linear-l4.json")) as f:
                self.assertEqual(json.load(f)["trained"]["steps"], 4)
            for name in ("linear-l4", "transformer-l4"):
                a = T.SafetensorsFile(os.path.join(straight, name + ".safetensors"))
                b = T.SafetensorsFile(os.path.join(split, name + ".safetensors"))
                for n in a.names():
                    self.assertTrue(torch.equal(a.get(n), b.get(n)), f"{name} {n}: resumed run differs")
            # a resumed run must train the same heads
            code, _, err, _ = run_trainer(self.common(split, ["--steps", "6", "--heads", "linear:4", "--resume"]))
            self.assertEqual(code, 2)
            self.assertIn("saved run trains heads", err)

    def test_resume_without_state(self):
        with tempfile.TemporaryDirectory() as d:
            code, _, err, _ = run_trainer(self.common(d, ["--resume"]))
            self.assertEqual(code, 2)
            self.assertIn("no saved state", err)


class TrainOnTinyCheckpointsTest(unittest.TestCase):
    def test_bf16_sharded_token_ids_qwen3(self):
        """--token-ids (.npy and text), a sharded BF16 checkpoint, heads saved in the checkpoint's dtype; a Qwen3
        transformer head carries its layer's q/k norms."""
        for kind in ("llama", "qwen3"):
            with tempfile.TemporaryDirectory() as d:
                ck = os.path.join(d, "ck")
                cfg, _ = make_checkpoint(ck, kind, dtype="BF16", shards=2)
                ids = np.random.default_rng(0).integers(0, cfg["vocab_size"], 900)
                np.save(os.path.join(d, "ids.npy"), ids[:600])
                with open(os.path.join(d, "ids.txt"), "w") as f:
                    f.write(" ".join(map(str, ids[600:])))
                code, stdout, err, res = run_trainer(
                    [ck, "--heads", "linear:1,transformer:2", "--token-ids", os.path.join(d, "ids.npy"),
                     "--token-ids", os.path.join(d, "ids.txt"), "--steps", "3", "--batch", "2", "--seq", "16",
                     "--threads", "1", "--save-dtype", "checkpoint", "--log-every", "0"])
                self.assertEqual(code, 0, err)
                self.assertIn("900 tokens", err)
                out = os.path.join(ck, "exit_heads")
                with open(os.path.join(out, "transformer-l2.json")) as f:
                    meta = json.load(f)
                self.assertEqual(meta["dtype"], "BF16")
                st = T.SafetensorsFile(os.path.join(out, "transformer-l2.safetensors"))
                self.assertEqual({st.entries[n][0] for n in st.names()}, {"BF16"})
                self.assertEqual("layer.self_attn.q_norm.weight" in meta["tensors"], kind == "qwen3")
                self.assertEqual(meta["tensors"]["layer.self_attn.q_proj.weight"],
                                 [cfg["num_attention_heads"] * (cfg.get("head_dim") or 12), cfg["hidden_size"]])


class TokenFrequenciesTest(unittest.TestCase):
    def test_frequency_list_in_the_runtime_format(self):
        """--token-frequencies writes every id once, most frequent first, ties by id, beside exit_heads/."""
        with tempfile.TemporaryDirectory() as d:
            ck = os.path.join(d, "ck")
            cfg, _ = make_checkpoint(ck, "llama")
            v = cfg["vocab_size"]
            ids = np.concatenate([np.full(300, 7), np.full(200, 3), np.arange(v), np.full(100, 5)])
            np.save(os.path.join(d, "ids.npy"), np.random.default_rng(1).permutation(ids))
            code, _, err, _ = run_trainer([ck, "--heads", "norm:1", "--token-ids", os.path.join(d, "ids.npy"), "--steps", "0",
                                           "--batch", "1", "--seq", "16", "--threads", "1", "--heldout", "0", "--token-frequencies",
                                           "--log-every", "0"])
            self.assertEqual(code, 0, err)
            with open(os.path.join(ck, "token_frequencies.json")) as f:
                meta = json.load(f)
            self.assertEqual(meta["format_version"], 1)
            self.assertEqual(meta["token_ids"][:3], [7, 3, 5])
            self.assertEqual(sorted(meta["token_ids"]), list(range(v)))
            self.assertEqual(meta["counts"][:3], [301, 201, 101])
            self.assertEqual(meta["token_ids"][3:6], [0, 1, 2])  # ties (seen once) by id
            self.assertEqual(meta["tokens_counted"], len(ids))


class BadInputTest(unittest.TestCase):
    def test_missing_config(self):
        with tempfile.TemporaryDirectory() as d:
            code, _, err, _ = run_trainer([d, "--heads", "linear:1", "--text", __file__])
            self.assertEqual(code, 2)
            self.assertIn("config.json", err)
            self.assertIn("missing", err)

    def test_unknown_architecture(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": 2}, f)
            code, _, err, _ = run_trainer([d, "--heads", "linear:1", "--text", __file__])
            self.assertEqual(code, 2)
            self.assertIn("unsupported architecture", err)
            self.assertIn("'gpt2'", err)
            self.assertIn("llama", err)

    def test_text_too_short(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "short.txt")
            with open(p, "w") as f:
                f.write("Hello, world.")
            code, _, err, _ = run_trainer([MINI, "--heads", "linear:4", "--text", p, "--out", os.path.join(d, "o"),
                                           "--seq", "64"])
            self.assertEqual(code, 2)
            self.assertIn("too short", err)
            self.assertIn("short.txt", err)

    def test_bad_heads_and_jsonl(self):
        with tempfile.TemporaryDirectory() as d:
            code, _, err, _ = run_trainer([MINI, "--heads", "linear:16", "--text", __file__, "--out", d])
            self.assertEqual(code, 2)
            self.assertIn("[1, 15]", err)
            code, _, err, _ = run_trainer([MINI, "--heads", "medusa:4", "--text", __file__, "--out", d])
            self.assertIn("KIND:EXIT_LAYER", err)
            p = os.path.join(d, "x.jsonl")
            with open(p, "w") as f:
                f.write('{"text": "ok"}\n{"body": "no text"}\n')
            code, _, err, _ = run_trainer([MINI, "--heads", "linear:4", "--jsonl", p, "--out", d])
            self.assertEqual(code, 2)
            self.assertIn("x.jsonl:2", err)

    def test_cli_exit_status(self):
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run([sys.executable, os.path.join(HERE, "train_exit_heads.py"), d, "--heads", "linear:1",
                                "--text", __file__], capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 2)
            self.assertRegex(p.stderr, r"^train_exit_heads: error: .*config.json")


if __name__ == "__main__":
    unittest.main()
