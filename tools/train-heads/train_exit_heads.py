#!/usr/bin/env python3
"""Train early-exit heads for a Hugging Face LLaMA-family checkpoint by self-distillation.

    /usr/bin/python3 tools/train-heads/train_exit_heads.py CHECKPOINT_DIR \
        --heads norm:8,linear:8,transformer:4,transformer:8 --text my.txt --minutes 10

The checkpoint (config.json, model.safetensors or model.safetensors.index.json + shards, F32/F16/BF16)
is read directly (memory-mapped) and run by the LLaMA-family forward written below (llama, mistral,
qwen2 with q/k/v biases, qwen3 with per-head q/k norms), frozen. Each requested head is trained on the
user's text with loss = KL(p_full || p_head) + CE(next token), and written to
CHECKPOINT_DIR/exit_heads/<kind>-l<E>.{json,safetensors} in the format of models/README.md.
Needs only PyTorch and numpy (Debian: python3-torch python3-numpy; python3-regex for the built-in
tokenizer). See tools/train-heads/README.md.
"""
import argparse
import contextlib
import hashlib
import json
import math
import mmap
import os
import struct
import sys
import time
import unicodedata
from dataclasses import dataclass, field

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as _e:  # reported by main(); the tokenizer part works without torch
    np = torch = F = None
    _IMPORT_ERROR = _e
else:
    _IMPORT_ERROR = None

PROG = "train_exit_heads"
SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")
KINDS = ("norm", "linear", "transformer")


class TrainerError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# safetensors (read: memory-mapped, zero-copy where the dtype already matches; write: F32/F16/BF16)

def _st_dtypes():
    return {"F64": (torch.float64, 8), "F32": (torch.float32, 4), "F16": (torch.float16, 2),
            "BF16": (torch.bfloat16, 2)}


class SafetensorsFile:
    def __init__(self, path):
        self.path = path
        try:
            size = os.path.getsize(path)
            f = open(path, "rb")
        except OSError as e:
            raise TrainerError(f"{path}: cannot open ({e.strerror})")
        with f:
            raw = f.read(8)
            if len(raw) < 8:
                raise TrainerError(f"{path}: not a safetensors file (shorter than 8 bytes)")
            n = struct.unpack("<Q", raw)[0]
            if n == 0 or n > size - 8 or n > 200_000_000:
                raise TrainerError(f"{path}: not a safetensors file (header length {n}, file size {size})")
            try:
                header = json.loads(f.read(n))
            except ValueError as e:
                raise TrainerError(f"{path}: header is not valid JSON ({e})")
            if not isinstance(header, dict):
                raise TrainerError(f"{path}: header is not a JSON object")
            # ACCESS_COPY: a private, lazily paged mapping that torch may treat as writable
            self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        self.metadata = header.pop("__metadata__", None)
        self._base = 8 + n
        self.entries = {}
        dts = _st_dtypes()
        for name, info in header.items():
            dt = info.get("dtype") if isinstance(info, dict) else None
            if dt not in dts:
                raise TrainerError(f"{path}: tensor '{name}' has unsupported dtype {dt!r} (F32, F16, BF16, F64)")
            shape = [int(s) for s in info.get("shape", [])]
            a, b = (int(x) for x in info.get("data_offsets", [0, -1]))
            numel = math.prod(shape)
            if b - a != numel * dts[dt][1] or a < 0 or self._base + b > size:
                raise TrainerError(f"{path}: tensor '{name}' has inconsistent data_offsets {[a, b]} for "
                                   f"shape {shape} {dt} (file size {size})")
            self.entries[name] = (dt, shape, a)

    def names(self):
        return list(self.entries)

    def get(self, name):
        dt, shape, a = self.entries[name]
        tdt = _st_dtypes()[dt][0]
        numel = math.prod(shape)
        if numel == 0:
            return torch.empty(shape, dtype=tdt)
        return torch.frombuffer(self._mm, dtype=tdt, count=numel, offset=self._base + a).view(shape)


def write_safetensors(path, tensors, metadata=None):
    """Tensor names sorted, data in that order, header padded with spaces to a multiple of 8 bytes.
    Written to a temporary file and renamed (a reader never sees half a file)."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:
            b, dt = t.view(torch.int16).numpy().astype("<i2").tobytes(), "BF16"
        elif t.dtype == torch.float16:
            b, dt = t.numpy().astype("<f2").tobytes(), "F16"
        elif t.dtype in (torch.float32, torch.float64):
            b, dt = t.to(torch.float32).numpy().astype("<f4").tobytes(), "F32"
        else:
            raise ValueError(f"cannot write dtype {t.dtype}")
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = metadata or {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------
# config.json

@dataclass
class ModelConfig:
    path: str
    model_type: str
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    max_positions: int
    rms_norm_eps: float
    rope_theta: float
    rope_scaling: dict = None
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    bos_token_id: int = None
    eos_token_ids: list = field(default_factory=list)
    sliding_window: int = None


def read_config(ckpt):
    path = os.path.join(ckpt, "config.json")
    if not os.path.isdir(ckpt):
        raise TrainerError(f"{ckpt}: not a directory (expected a Hugging Face checkpoint directory)")
    if not os.path.isfile(path):
        raise TrainerError(f"{path}: missing (expected a Hugging Face checkpoint directory with config.json "
                           f"and model.safetensors)")
    try:
        with open(path, encoding="utf-8") as f:
            c = json.load(f)
    except ValueError as e:
        raise TrainerError(f"{path}: not valid JSON ({e})")
    if not isinstance(c, dict):
        raise TrainerError(f"{path}: expected a JSON object")
    mt = c.get("model_type")
    arch = c.get("architectures") or []
    if mt not in SUPPORTED_MODEL_TYPES:
        raise TrainerError(f"{path}: unsupported architecture: model_type {mt!r}"
                           + (f" ({', '.join(map(str, arch))})" if arch else "")
                           + f"; supported: {', '.join(SUPPORTED_MODEL_TYPES)} (LLaMA-family decoders)")

    def req_int(key):
        v = c.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise TrainerError(f"{path}: '{key}' must be a positive integer, got {v!r}")
        return v

    act = c.get("hidden_act", c.get("hidden_activation", "silu"))
    if act != "silu":
        raise TrainerError(f"{path}: hidden_act {act!r} is not supported (silu)")
    if c.get("mlp_bias"):
        raise TrainerError(f"{path}: mlp_bias=true is not supported")
    hidden, heads = req_int("hidden_size"), req_int("num_attention_heads")
    kv = c.get("num_key_value_heads") or heads
    if heads % kv:
        raise TrainerError(f"{path}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}")
    head_dim = c.get("head_dim") or (hidden // heads)
    if head_dim % 2:
        raise TrainerError(f"{path}: head_dim {head_dim} must be even for RoPE")
    rs = c.get("rope_scaling")
    if rs is not None:
        typ = rs.get("rope_type", rs.get("type"))
        if typ == "default":
            rs = None
        elif typ == "llama3":
            for k in ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"):
                if not isinstance(rs.get(k), (int, float)) or rs[k] <= 0:
                    raise TrainerError(f"{path}: rope_scaling.{k} must be a positive number, got {rs.get(k)!r}")
        elif typ == "linear":
            if not isinstance(rs.get("factor"), (int, float)) or rs["factor"] <= 0:
                raise TrainerError(f"{path}: rope_scaling.factor must be a positive number")
        else:
            raise TrainerError(f"{path}: rope_scaling type {typ!r} is not supported (llama3, linear or null)")
    sw = c.get("sliding_window")
    if mt == "qwen2" or mt == "qwen3":
        if not c.get("use_sliding_window", False):
            sw = None
    eos = c.get("eos_token_id")
    eos = [] if eos is None else (list(eos) if isinstance(eos, list) else [eos])
    bos = c.get("bos_token_id")
    if isinstance(bos, list):
        bos = bos[0] if bos else None
    return ModelConfig(
        path=path, model_type=mt, hidden_size=hidden, intermediate_size=req_int("intermediate_size"),
        num_layers=req_int("num_hidden_layers"), num_heads=heads, num_kv_heads=kv, head_dim=head_dim,
        vocab_size=req_int("vocab_size"), max_positions=c.get("max_position_embeddings") or 2048,
        rms_norm_eps=float(c.get("rms_norm_eps", 1e-6)), rope_theta=float(c.get("rope_theta", 10000.0)),
        rope_scaling=rs, tie_word_embeddings=bool(c.get("tie_word_embeddings", False)),
        attention_bias=bool(c.get("attention_bias", mt == "qwen2")), bos_token_id=bos, eos_token_ids=eos,
        sliding_window=sw)


# ----------------------------------------------------------------------------------------------
# the LLaMA-family forward (HF LlamaForCausalLM / MistralForCausalLM / Qwen2 / Qwen3 semantics)

def rms_norm(x, w, eps):
    dt = x.dtype
    xf = x.float() if dt in (torch.float16, torch.bfloat16) else x
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return w * xf.to(dt)


def rope_inv_freq(cfg):
    """Inverse frequencies [head_dim/2], float64, after rope_scaling."""
    D = cfg.head_dim
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    rs = cfg.rope_scaling
    if rs is None:
        return inv
    typ = rs.get("rope_type", rs.get("type"))
    if typ == "linear":
        return inv / rs["factor"]
    factor, lo, hi = float(rs["factor"]), float(rs["low_freq_factor"]), float(rs["high_freq_factor"])
    old = float(rs["original_max_position_embeddings"])
    wavelen = 2 * math.pi / inv
    smooth = (old / wavelen - lo) / (hi - lo)
    mid = (1 - smooth) * inv / factor + smooth * inv
    return torch.where(wavelen < old / hi, inv, torch.where(wavelen > old / lo, inv / factor, mid))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def attention(p, x, cos, sin, cfg, cache=None):
    """x [B,T,C]; p: the layer's tensors named 'self_attn.*'; cache: dict with 'k','v' [B,KV,P,D]."""
    B, T, _ = x.shape
    H, KV, D = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
    q = F.linear(x, p["self_attn.q_proj.weight"], p.get("self_attn.q_proj.bias")).view(B, T, H, D)
    k = F.linear(x, p["self_attn.k_proj.weight"], p.get("self_attn.k_proj.bias")).view(B, T, KV, D)
    v = F.linear(x, p["self_attn.v_proj.weight"], p.get("self_attn.v_proj.bias")).view(B, T, KV, D)
    if "self_attn.q_norm.weight" in p:  # Qwen3: RMSNorm over each head's dimensions, before RoPE
        q = rms_norm(q, p["self_attn.q_norm.weight"], cfg.rms_norm_eps)
        k = rms_norm(k, p["self_attn.k_norm.weight"], cfg.rms_norm_eps)
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    if cache is not None:
        if "k" in cache:
            k = torch.cat([cache["k"], k], dim=2)
            v = torch.cat([cache["v"], v], dim=2)
        cache["k"], cache["v"] = k, v
    S = k.shape[2]
    rep = H // KV  # query head h reads kv head h // rep: the rep query heads of a kv head are stacked
    qg = (q * (1.0 / math.sqrt(D))).reshape(B * KV, rep * T, D)  # along the rows, so k and v are not copied
    att = torch.baddbmm(_causal_bias(T, S, rep, q.dtype, x.device), qg, k.reshape(B * KV, S, D).transpose(1, 2))
    att = torch.softmax(att, dim=-1, dtype=torch.float64 if att.dtype == torch.float64 else torch.float32)
    y = torch.bmm(att.to(v.dtype), v.reshape(B * KV, S, D))
    y = y.reshape(B, H, T, D).transpose(1, 2).reshape(B, T, H * D)
    return F.linear(y, p["self_attn.o_proj.weight"], p.get("self_attn.o_proj.bias"))


_BIAS_CACHE = {}


def _causal_bias(T, S, rep, dtype, device):
    """[rep*T, S] additive mask: position t (of the last T of S) sees positions <= S - T + t."""
    key = (T, S, rep, dtype, str(device))
    b = _BIAS_CACHE.get(key)
    if b is None:
        if len(_BIAS_CACHE) > 32:
            _BIAS_CACHE.clear()
        allowed = torch.ones(T, S, dtype=torch.bool, device=device).tril(diagonal=S - T)
        b = torch.zeros(T, S, dtype=dtype, device=device).masked_fill(~allowed, float("-inf")).repeat(rep, 1)
        _BIAS_CACHE[key] = b
    return b


def decoder_layer(p, x, cos, sin, cfg, cache=None):
    x = x + attention(p, rms_norm(x, p["input_layernorm.weight"], cfg.rms_norm_eps), cos, sin, cfg, cache)
    h = rms_norm(x, p["post_attention_layernorm.weight"], cfg.rms_norm_eps)
    return x + F.linear(F.silu(F.linear(h, p["mlp.gate_proj.weight"])) * F.linear(h, p["mlp.up_proj.weight"]),
                        p["mlp.down_proj.weight"])


LAYER_TENSORS = ("input_layernorm.weight", "post_attention_layernorm.weight",
                 "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                 "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight")
LAYER_OPTIONAL = ("self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias",
                  "self_attn.o_proj.bias", "self_attn.q_norm.weight", "self_attn.k_norm.weight")


class FrozenModel:
    """The checkpoint's weights (frozen, memory-mapped where possible) and its forward."""

    def __init__(self, ckpt, cfg=None, dtype=None, device="cpu"):
        self.dir = ckpt
        self.cfg = cfg or read_config(ckpt)
        self.device = torch.device(device)
        self.files, self.weight_map = self._open_weights(ckpt)
        self.ckpt_dtype = self._dominant_dtype()
        self.dtype = dtype or torch.float32
        c = self.cfg
        self.embed = self._t("model.embed_tokens.weight", [c.vocab_size, c.hidden_size])
        self.layers = []
        for i in range(c.num_layers):
            pre = f"model.layers.{i}."
            d = {n: self._t(pre + n) for n in LAYER_TENSORS}
            for n in LAYER_OPTIONAL:
                if pre + n in self.weight_map:
                    d[n] = self._t(pre + n)
            if c.attention_bias and "self_attn.q_proj.bias" not in d:
                raise TrainerError(f"{ckpt}: config says attention_bias (or qwen2) but tensor '{pre}self_attn.q_proj.bias' "
                                   f"is missing")
            if ("self_attn.q_norm.weight" in d) != ("self_attn.k_norm.weight" in d):
                raise TrainerError(f"{ckpt}: layer {i} has only one of q_norm / k_norm")
            self._check_layer_shapes(i, d)
            self.layers.append(d)
        self.norm_w = self._t("model.norm.weight", [c.hidden_size])
        if c.tie_word_embeddings or "lm_head.weight" not in self.weight_map:
            if not c.tie_word_embeddings:
                raise TrainerError(f"{ckpt}: no 'lm_head.weight' and tie_word_embeddings is false")
            self.lm_head = self.embed
        else:
            self.lm_head = self._t("lm_head.weight", [c.vocab_size, c.hidden_size])
        self.inv_freq = rope_inv_freq(c)
        self._rope_cache = {}

    @staticmethod
    def _open_weights(ckpt):
        single = os.path.join(ckpt, "model.safetensors")
        index = os.path.join(ckpt, "model.safetensors.index.json")
        if os.path.isfile(index):
            try:
                with open(index, encoding="utf-8") as f:
                    wm = json.load(f)["weight_map"]
            except (ValueError, KeyError) as e:
                raise TrainerError(f"{index}: not a valid safetensors index ({e})")
            files = {}
            for shard in sorted(set(wm.values())):
                p = os.path.join(ckpt, shard)
                if not os.path.isfile(p):
                    raise TrainerError(f"{index}: shard '{shard}' is missing")
                files[shard] = SafetensorsFile(p)
            weight_map = {}
            for name, shard in wm.items():
                if name not in files[shard].entries:
                    raise TrainerError(f"{os.path.join(ckpt, shard)}: tensor '{name}' (listed in the index) is missing")
                weight_map[name] = files[shard]
            return files, weight_map
        if os.path.isfile(single):
            f = SafetensorsFile(single)
            return {"model.safetensors": f}, {n: f for n in f.names()}
        others = [n for n in os.listdir(ckpt) if n.endswith((".bin", ".pt", ".gguf"))]
        raise TrainerError(f"{ckpt}: no model.safetensors or model.safetensors.index.json"
                           + (f" (found {others}: only safetensors is read)" if others else ""))

    def _dominant_dtype(self):
        count = {}
        for f in self.files.values():
            for dt, shape, _ in f.entries.values():
                count[dt] = count.get(dt, 0) + math.prod(shape)
        return max(count, key=count.get) if count else "F32"

    def _t(self, name, shape=None):
        f = self.weight_map.get(name)
        if f is None:
            raise TrainerError(f"{self.dir}: tensor '{name}' is missing from the checkpoint")
        t = f.get(name)
        if shape is not None and list(t.shape) != list(shape):
            raise TrainerError(f"{f.path}: tensor '{name}' has shape {list(t.shape)}, config.json implies {shape}")
        if t.dtype != self.dtype or self.device.type != "cpu":
            t = t.to(device=self.device, dtype=self.dtype)
        return t

    def _check_layer_shapes(self, i, d):
        c = self.cfg
        C, I, Q, K = c.hidden_size, c.intermediate_size, c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim
        want = {"input_layernorm.weight": [C], "post_attention_layernorm.weight": [C],
                "self_attn.q_proj.weight": [Q, C], "self_attn.k_proj.weight": [K, C],
                "self_attn.v_proj.weight": [K, C], "self_attn.o_proj.weight": [C, Q],
                "mlp.gate_proj.weight": [I, C], "mlp.up_proj.weight": [I, C], "mlp.down_proj.weight": [C, I],
                "self_attn.q_proj.bias": [Q], "self_attn.k_proj.bias": [K], "self_attn.v_proj.bias": [K],
                "self_attn.o_proj.bias": [C], "self_attn.q_norm.weight": [c.head_dim],
                "self_attn.k_norm.weight": [c.head_dim]}
        for n, t in d.items():
            if list(t.shape) != want[n]:
                raise TrainerError(f"{self.dir}: tensor 'model.layers.{i}.{n}' has shape {list(t.shape)}, "
                                   f"config.json implies {want[n]}")

    def rope(self, start, T, dtype=None):
        dtype = dtype or self.dtype
        key = (dtype, start, T)
        if key not in self._rope_cache:
            if len(self._rope_cache) > 16:
                self._rope_cache.clear()
            pos = torch.arange(start, start + T, dtype=torch.float64)
            fr = pos[:, None] * self.inv_freq[None, :]
            emb = torch.cat([fr, fr], dim=-1)
            self._rope_cache[key] = (emb.cos().to(self.device, dtype), emb.sin().to(self.device, dtype))
        return self._rope_cache[key]

    def forward(self, ids, exits=(), start_pos=0, caches=None):
        """ids [B,T] -> (final-normed hidden [B,T,C], {E: h_E residual stream after layers 0..E-1})."""
        T = ids.shape[1]
        cos, sin = self.rope(start_pos, T)
        x = F.embedding(ids.to(self.device), self.embed)
        hidden = {0: x} if 0 in exits else {}
        for i, p in enumerate(self.layers):
            x = decoder_layer(p, x, cos, sin, self.cfg, None if caches is None else caches[i])
            if i + 1 in exits:
                hidden[i + 1] = x
        return rms_norm(x, self.norm_w, self.cfg.rms_norm_eps), hidden

    def logits(self, xn):
        return F.linear(xn.to(self.lm_head.dtype), self.lm_head)

    @torch.no_grad()
    def greedy(self, ids, n):
        """Greedy continuation of ids (list) by n tokens, with a KV cache."""
        caches = [{} for _ in self.layers]
        seq = list(ids)
        xn, _ = self.forward(torch.tensor([seq]), caches=caches)
        for i in range(n):
            seq.append(int(self.logits(xn[0, -1]).argmax()))
            if i + 1 < n:
                xn, _ = self.forward(torch.tensor([[seq[-1]]]), start_pos=len(seq) - 1, caches=caches)
        return seq


# ----------------------------------------------------------------------------------------------
# exit heads

class Head:
    """kind norm: model.norm + lm_head (nothing to train); linear: own norm + own projection;
    transformer: own copy of decoder layer E + own norm + the model's lm_head."""

    def __init__(self, kind, E, model):
        self.kind, self.E, self.model = kind, E, model
        self.name = f"{kind}-l{E}"
        self.trainable = kind != "norm"
        self.pdtype = torch.float64 if model.dtype == torch.float64 else torch.float32
        P = lambda t: torch.nn.Parameter(t.detach().to(model.device, self.pdtype).clone())
        self.params = {}
        if kind == "linear":
            self.params["norm.weight"] = P(model.norm_w)
            self.params["proj.weight"] = P(model.lm_head)
        elif kind == "transformer":
            for n, t in model.layers[E].items():
                self.params["layer." + n] = P(t)
            self.params["norm.weight"] = P(model.norm_w)

    def parameters(self):
        return [self.params[k] for k in sorted(self.params)]

    def init_description(self):
        return {"norm": "-", "linear": "norm from model.norm, proj from lm_head",
                "transformer": f"layer from model layer {self.E}, norm from model.norm"}[self.kind]

    def features(self, h):
        """Pre-projection features (after the head's norm) of h_E [B,T,C]."""
        eps = self.model.cfg.rms_norm_eps
        if self.kind == "norm":
            return rms_norm(h, self.model.norm_w, eps)
        h = h.to(self.pdtype)
        if self.kind == "linear":
            return rms_norm(h, self.params["norm.weight"], eps)
        cos, sin = self.model.rope(0, h.shape[1], self.pdtype)
        layer = {k[len("layer."):]: v for k, v in self.params.items() if k.startswith("layer.")}
        return rms_norm(decoder_layer(layer, h, cos, sin, self.model.cfg), self.params["norm.weight"], eps)

    def logits(self, z):
        W = self.params["proj.weight"] if self.kind == "linear" else self.model.lm_head
        return F.linear(z.to(W.dtype), W)

    def state(self):
        return {k: v.detach().cpu().clone() for k, v in self.params.items()}

    def load_state(self, st):
        if sorted(st) != sorted(self.params):
            raise TrainerError(f"saved state of head {self.name} has tensors {sorted(st)}, expected {sorted(self.params)}")
        with torch.no_grad():
            for k, v in st.items():
                self.params[k].copy_(v)


def parse_heads(spec, N):
    heads = []
    for item in [s.strip() for s in spec.split(",") if s.strip()]:
        kind, sep, e = item.partition(":")
        if not sep or kind not in KINDS or not e.strip().isdigit():
            raise TrainerError(f"--heads: bad item {item!r}: expected KIND:EXIT_LAYER with KIND one of "
                               f"{', '.join(KINDS)}, e.g. linear:8")
        E = int(e)
        if not 1 <= E <= N - 1:
            raise TrainerError(f"--heads: exit layer {E} of {item!r} must be in [1, {N - 1}] (the model has {N} layers)")
        if (kind, E) in heads:
            raise TrainerError(f"--heads: {item!r} given twice")
        heads.append((kind, E))
    if not heads:
        raise TrainerError("--heads: no heads given (e.g. --heads norm:8,linear:8,transformer:4)")
    return heads


def head_file_dtype(name):
    return {"f32": torch.float32, "F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}[name]


def write_head(head, out_dir, trained, dtype_name, description):
    os.makedirs(out_dir, exist_ok=True)
    dt = head_file_dtype(dtype_name)
    tensors = {k: v.detach().to(dt).cpu() for k, v in head.params.items()}
    meta = {"format_version": 1, "name": head.name, "kind": head.kind, "exit_layer": head.E,
            "tensors": {k: list(tensors[k].shape) for k in sorted(tensors)},
            "dtype": "F32" if dt == torch.float32 else dtype_name, "trained": trained, "description": description}
    st = os.path.join(out_dir, head.name + ".safetensors")
    if tensors:
        write_safetensors(st, tensors)
    elif os.path.exists(st):
        os.remove(st)  # a norm head has no weights: a stale file would contradict the JSON
    js = os.path.join(out_dir, head.name + ".json")
    with open(js + ".tmp", "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    os.replace(js + ".tmp", js)
    return js


# ----------------------------------------------------------------------------------------------
# tokenizer: HF `tokenizers` if importable, else a built-in BPE for tokenizer.json (byte-level BPE
# as in GPT-2 / LLaMA-3 / Qwen, and SentencePiece-style BPE with Metaspace / byte fallback)

def bytes_to_unicode():
    """GPT-2's byte -> printable character table used by ByteLevel."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) \
        + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


def _regex_module(pattern, where):
    if "\\p{" in pattern or "\\P{" in pattern:
        try:
            import regex
            return regex.compile(pattern)
        except ImportError:
            raise TrainerError(f"{where}: the pattern uses Unicode classes (\\p{{..}}): install the 'regex' module "
                               f"(Debian: apt-get install python3-regex), or pass --token-ids")
    import re
    try:
        return re.compile(pattern)
    except re.error:
        try:
            import regex
            return regex.compile(pattern)
        except ImportError:
            raise TrainerError(f"{where}: pattern {pattern!r} needs the 'regex' module (python3-regex)")


class BuiltinTokenizer:
    """Encodes text like Hugging Face tokenizers for the tokenizer.json features LLaMA-family models use."""

    def __init__(self, path):
        self.path = path
        try:
            with open(path, encoding="utf-8") as f:
                tj = json.load(f)
        except OSError as e:
            raise TrainerError(f"{path}: cannot read ({e.strerror})")
        except ValueError as e:
            raise TrainerError(f"{path}: not valid JSON ({e})")
        m = tj.get("model") or {}
        if m.get("type", "BPE") != "BPE":
            raise TrainerError(f"{path}: model.type {m.get('type')!r} is not supported by the built-in tokenizer (BPE); "
                               f"install HF tokenizers or pass --token-ids")
        for k in ("continuing_subword_prefix", "end_of_word_suffix"):
            if m.get(k):
                raise TrainerError(f"{path}: model.{k} is not supported by the built-in tokenizer")
        self.vocab = m.get("vocab") or {}
        merges = m.get("merges") or []
        self.ranks = {}
        for r, mg in enumerate(merges):
            a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
            self.ranks.setdefault((a, b), r)
        self.byte_fallback = bool(m.get("byte_fallback", False))
        self.ignore_merges = bool(m.get("ignore_merges", False))
        self.unk = m.get("unk_token")
        self.fuse_unk = bool(m.get("fuse_unk", False))
        self.added = {t["content"]: t["id"] for t in tj.get("added_tokens") or []}
        self._added_re = None
        if self.added:
            import re
            self._added_re = re.compile("|".join(re.escape(s) for s in sorted(self.added, key=len, reverse=True)))
        self.normalizer = self._normalizer(tj.get("normalizer"), "normalizer")
        self.pre = self._pre(tj.get("pre_tokenizer"), "pre_tokenizer")
        self.prefix_ids = template_prefix(tj.get("post_processor"))
        self.byte_map = bytes_to_unicode()
        self._cache = {}

    # normalizers: functions str -> str
    def _normalizer(self, n, where):
        if n is None:
            return lambda s: s
        t = n.get("type")
        if t == "Sequence":
            steps = [self._normalizer(x, f"{where}.normalizers[{i}]") for i, x in enumerate(n.get("normalizers", []))]

            def seq(s):
                for st in steps:
                    s = st(s)
                return s
            return seq
        if t == "Prepend":
            pre = n["prepend"]
            return lambda s: pre + s if s else s
        if t == "Replace":
            pat, content = n["pattern"], n["content"]
            if "String" in pat:
                lit = pat["String"]
                return lambda s: s.replace(lit, content)
            rx = _regex_module(pat["Regex"], f"{self.path}: {where}")
            return lambda s: rx.sub(content, s)
        if t in ("NFC", "NFD", "NFKC", "NFKD"):
            return lambda s: unicodedata.normalize(t, s)
        if t == "Lowercase":
            return lambda s: s.lower()
        raise TrainerError(f"{self.path}: {where}.type {t!r} is not supported by the built-in tokenizer "
                           f"(Sequence, Prepend, Replace, NFC/NFD/NFKC/NFKD, Lowercase); install HF tokenizers "
                           f"or pass --token-ids")

    # pre-tokenizers: functions (list of pieces, at_text_start) -> list of pieces
    def _pre(self, p, where):
        if p is None:
            return lambda pieces, first: pieces
        t = p.get("type")
        if t == "Sequence":
            steps = [self._pre(x, f"{where}.pretokenizers[{i}]") for i, x in enumerate(p.get("pretokenizers", []))]

            def seq(pieces, first):
                for st in steps:
                    pieces = st(pieces, first)
                return pieces
            return seq
        if t == "Split":
            pat = p["pattern"]
            if p.get("invert"):
                raise TrainerError(f"{self.path}: {where}: Split with invert=true is not supported")
            import re
            rx = re.compile(re.escape(pat["String"])) if "String" in pat else _regex_module(pat["Regex"], f"{self.path}: {where}")
            beh = p.get("behavior", "Isolated")
            if beh not in ("Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"):
                raise TrainerError(f"{self.path}: {where}: Split behavior {beh!r} is not supported")
            return lambda pieces, first: [q for s in pieces for q in _split(s, rx, beh)]
        if t == "ByteLevel":
            aps = bool(p.get("add_prefix_space", True))
            rx = _regex_module(GPT2_PATTERN, f"{self.path}: {where}") if p.get("use_regex", True) else None

            def bl(pieces, first):
                out = []
                for i, s in enumerate(pieces):
                    if aps and i == 0 and first and not s.startswith(" "):
                        s = " " + s
                    subs = _split(s, rx, "Isolated") if rx is not None else [s]
                    out.extend("".join(self.byte_map[b] for b in q.encode("utf-8")) for q in subs)
                return out
            return bl
        if t == "Metaspace":
            rep = p.get("replacement", "\u2581")
            scheme = p.get("prepend_scheme") or ("always" if p.get("add_prefix_space", True) else "never")
            split = bool(p.get("split", True))

            def ms(pieces, first):
                out = []
                for i, s in enumerate(pieces):
                    s = s.replace(" ", rep)
                    if (scheme == "always" or (scheme == "first" and first and i == 0)) and not s.startswith(rep):
                        s = rep + s
                    if split:
                        out.extend(_split(s, _literal(rep), "MergedWithNext"))
                    else:
                        out.append(s)
                return out
            return ms
        if t == "Digits":
            import re
            rx = re.compile(r"\d" if p.get("individual_digits") else r"\d+")
            return lambda pieces, first: [q for s in pieces for q in _split(s, rx, "Isolated")]
        raise TrainerError(f"{self.path}: {where}.type {t!r} is not supported by the built-in tokenizer "
                           f"(Sequence, Split, ByteLevel, Metaspace, Digits); install HF tokenizers or pass --token-ids")

    def _bpe(self, word):
        ids = self._cache.get(word)
        if ids is not None:
            return ids
        if self.ignore_merges and word in self.vocab:
            ids = [self.vocab[word]]
        else:
            syms = []
            for ch in word:
                if ch in self.vocab:
                    syms.append(ch)
                elif self.byte_fallback and all(f"<0x{b:02X}>" in self.vocab for b in ch.encode("utf-8")):
                    syms.extend(f"<0x{b:02X}>" for b in ch.encode("utf-8"))
                else:
                    syms.append(ch)  # unknown: becomes unk below unless a merge absorbs it
            while len(syms) > 1:
                best, rank = None, None
                for i in range(len(syms) - 1):
                    r = self.ranks.get((syms[i], syms[i + 1]))
                    if r is not None and (rank is None or r < rank):
                        best, rank = (syms[i], syms[i + 1]), r
                if best is None:
                    break
                merged, i = [], 0
                while i < len(syms):
                    if i + 1 < len(syms) and syms[i] == best[0] and syms[i + 1] == best[1]:
                        merged.append(best[0] + best[1])
                        i += 2
                    else:
                        merged.append(syms[i])
                        i += 1
                syms = merged
            ids = []
            for s in syms:
                if s in self.vocab:
                    ids.append(self.vocab[s])
                elif self.unk is not None and self.unk in self.vocab:
                    if not (self.fuse_unk and ids and ids[-1] == self.vocab[self.unk]):
                        ids.append(self.vocab[self.unk])
                else:
                    raise TrainerError(f"{self.path}: cannot encode {s!r}: not in the vocabulary and no unk_token "
                                       f"/ byte fallback")
        if len(self._cache) < 500_000:
            self._cache[word] = ids
        return ids

    def encode(self, text):
        """Token ids of text, without the post-processor's special tokens."""
        out = []
        segments = []
        if self._added_re is None:
            segments.append((text, False))
        else:
            last = 0
            for mt in self._added_re.finditer(text):
                if mt.start() > last:
                    segments.append((text[last:mt.start()], False))
                segments.append((mt.group(0), True))
                last = mt.end()
            if last < len(text):
                segments.append((text[last:], False))
        for i, (seg, is_added) in enumerate(segments):
            if is_added:
                out.append(self.added[seg])
                continue
            pieces = self.pre([self.normalizer(seg)], i == 0)
            for p in pieces:
                if p:
                    out.extend(self._bpe(p))
        return out


def template_prefix(pp):
    """Special-token ids the post-processor puts before a single sequence (e.g. <|begin_of_text|>)."""
    if pp is None:
        return []
    t = pp.get("type")
    if t == "Sequence":
        for x in pp.get("processors", []):
            ids = template_prefix(x)
            if ids:
                return ids
        return []
    if t == "TemplateProcessing":
        ids = []
        for item in pp.get("single", []):
            if "Sequence" in item:
                break
            name = item["SpecialToken"]["id"]
            ids.extend(pp["special_tokens"][name]["ids"])
        return ids
    if t in ("BertProcessing", "RobertaProcessing"):
        return [pp["cls"][1]]
    return []


def _literal(s):
    import re
    return re.compile(re.escape(s))


def _split(s, rx, behavior):
    """HF Split semantics for one piece."""
    parts, last = [], 0
    for m in rx.finditer(s):
        a, b = m.span()
        if a == b:
            continue
        if a > last:
            parts.append((s[last:a], False))
        parts.append((s[a:b], True))
        last = b
    if last < len(s):
        parts.append((s[last:], False))
    if behavior == "Isolated":
        return [p for p, _ in parts]
    if behavior == "Removed":
        return [p for p, is_m in parts if not is_m]
    out = []
    if behavior == "MergedWithPrevious":
        for p, is_m in parts:
            if is_m and out:
                out[-1] += p
            else:
                out.append(p)
        return out
    if behavior == "MergedWithNext":
        pending = ""
        for p, is_m in parts:
            if is_m:
                pending += p
            else:
                out.append(pending + p)
                pending = ""
        if pending:
            out.append(pending)
        return out
    # Contiguous
    for p, is_m in parts:
        if is_m and out and out[-1][1]:
            out[-1] = (out[-1][0] + p, True)
        else:
            out.append((p, is_m))
    return [p for p, _ in out]


class HfTokenizer:
    def __init__(self, path):
        import tokenizers
        self.path = path
        self.tok = tokenizers.Tokenizer.from_file(path)
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        self.prefix_ids = template_prefix(tj.get("post_processor"))

    def encode(self, text):
        return self.tok.encode(text, add_special_tokens=False).ids


def load_tokenizer(path, which="auto"):
    if not os.path.isfile(path):
        raise TrainerError(f"{path}: missing (needed to tokenize --text/--jsonl; or pass --token-ids)")
    if which in ("auto", "hf"):
        try:
            import tokenizers  # noqa: F401
            return HfTokenizer(path), "huggingface tokenizers"
        except ImportError:
            if which == "hf":
                raise TrainerError("--tokenizer hf: the 'tokenizers' package is not installed")
    return BuiltinTokenizer(path), "built-in BPE"


# ----------------------------------------------------------------------------------------------
# data

def read_documents(args):
    """[(source, text)] from --text and --jsonl."""
    docs = []
    for path in args.text or []:
        try:
            with open(path, encoding="utf-8") as f:
                docs.append((path, f.read()))
        except OSError as e:
            raise TrainerError(f"--text {path}: cannot read ({e.strerror})")
        except UnicodeDecodeError as e:
            raise TrainerError(f"--text {path}: not UTF-8 text ({e})")
    for path in args.jsonl or []:
        docs.extend(read_jsonl(path, "--jsonl"))
    return docs


def read_jsonl(path, flag):
    out = []
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise TrainerError(f"{flag} {path}: cannot read ({e.strerror})")
    with f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise TrainerError(f"{flag} {path}:{n}: not valid JSON ({e})")
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise TrainerError(f"{flag} {path}:{n}: expected an object with a string 'text' field")
            out.append((f"{path}:{n}", obj["text"]))
    return out


def read_token_ids(path, vocab):
    try:
        if path.endswith(".npy"):
            a = np.load(path)
        else:
            with open(path, encoding="utf-8") as f:
                a = np.array([int(x) for x in f.read().split()], dtype=np.int64)
    except (OSError, ValueError) as e:
        raise TrainerError(f"--token-ids {path}: cannot read ids ({e})")
    a = np.asarray(a).reshape(-1)
    if a.dtype.kind not in "iu":
        raise TrainerError(f"--token-ids {path}: expected integer ids, got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() >= vocab):
        raise TrainerError(f"--token-ids {path}: ids must be in [0, {vocab}), got [{a.min()}, {a.max()}]")
    return a.astype(np.int64)


def build_stream(args, cfg, work):
    """The token stream (documents joined by EOS), the prefix every sequence starts with, a fingerprint."""
    ckpt = args.checkpoint
    tok_path = os.path.join(ckpt, "tokenizer.json")
    docs = read_documents(args)
    h = hashlib.sha1()
    tok, tok_name, prefix = None, "none", []
    if docs:
        tok, tok_name = load_tokenizer(tok_path, args.tokenizer)
        prefix = list(tok.prefix_ids)
    elif os.path.isfile(tok_path):
        try:
            with open(tok_path, encoding="utf-8") as f:
                prefix = template_prefix(json.load(f).get("post_processor"))
        except (ValueError, KeyError, TypeError):
            prefix = []
    eos = cfg.eos_token_ids[0] if cfg.eos_token_ids else None
    parts = []
    for src, text in docs:
        h.update(hashlib.sha1(text.encode("utf-8")).digest())
    h.update(tok_name.encode())
    if os.path.isfile(tok_path):
        with open(tok_path, "rb") as f:
            h.update(hashlib.sha1(f.read()).digest())
    cache_key = h.hexdigest()
    cache = os.path.join(work, f"tokens-{cache_key[:16]}.npy")
    if docs and os.path.isfile(cache):
        text_ids = np.load(cache)
    elif docs:
        t0 = time.time()
        ids = []
        for i, (src, text) in enumerate(docs):
            ids.extend(tok.encode(text))
            if eos is not None:
                ids.append(eos)
            if time.time() - t0 > 10 and i % 50 == 0:
                log(f"tokenizing: {i + 1}/{len(docs)} documents, {len(ids):,} tokens")
        text_ids = np.array(ids, dtype=np.int64)
        log(f"tokenized {len(docs)} document(s) with the {tok_name} tokenizer: {len(text_ids):,} tokens "
            f"in {time.time() - t0:.1f} s")
        os.makedirs(work, exist_ok=True)
        np.save(cache, text_ids)
    else:
        text_ids = np.zeros(0, dtype=np.int64)
    parts.append(text_ids)
    for path in args.token_ids or []:
        a = read_token_ids(path, cfg.vocab_size)
        h.update(hashlib.sha1(a.tobytes()).digest())
        parts.append(a)
    stream = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    if stream.size and stream.max() >= cfg.vocab_size:
        raise TrainerError(f"tokenized ids reach {stream.max()} but vocab_size is {cfg.vocab_size}: "
                           f"tokenizer.json does not match config.json")
    return stream, prefix, h.hexdigest(), tok, tok_name


# ----------------------------------------------------------------------------------------------
# training

def lr_at(args, step, progress):
    warm = min(1.0, (step + 1) / args.warmup) if args.warmup > 0 else 1.0
    return args.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def autocast(args):
    if not args.amp:
        return contextlib.nullcontext()
    return torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16)


def teacher_stats(tl):
    """Teacher distribution of a chunk of full-model logits tl [n, V] (float32): probabilities tp, the sum
    over the chunk of Σ_v tp·log tp, and the per-row log normalizer (one exp pass over [n, V])."""
    tm = tl.max(-1, keepdim=True).values
    tp = (tl - tm).exp_()
    ts = tp.sum(-1, keepdim=True)
    tp.div_(ts)
    lse = (tm + ts.log()).squeeze(-1)
    neg_entropy = float(torch.dot(tp.reshape(-1), tl.reshape(-1))) - float(lse.sum())
    return tp, neg_entropy, lse


def head_loss(lg, tp, neg_entropy, y, grad_scale=None):
    """KL(p_full || p_head) and CE(y) summed over a chunk of head logits lg [n, V] (float32), with one exp
    pass; with grad_scale, also d(KL + CE)/d lg * grad_scale = (2·p_head − p_full − onehot(y)) * grad_scale."""
    with torch.no_grad():
        m = lg.max(-1, keepdim=True).values
        p = (lg - m).exp_()
        s = p.sum(-1, keepdim=True)
        p.div_(s)
        lse = (m + s.log()).squeeze(-1)  # log p_head = lg - lse
        kl = neg_entropy - float(torch.dot(tp.reshape(-1), lg.reshape(-1))) + float(lse.sum())
        ce = float((lse - lg.gather(1, y[:, None]).squeeze(-1)).sum())
        grad = None
        if grad_scale is not None:
            grad = p.mul_(2).sub_(tp)
            grad[torch.arange(len(y), device=y.device), y] -= 1
            grad.mul_(grad_scale)
        return kl, ce, grad


def step_losses(model, heads, inp, labels, chunk, args, opts=None, lr=None):
    """One forward of the frozen model and every head; returns {head: (kl, ce)} per token. With opts,
    also backpropagates KL + CE of each trainable head and takes an optimizer step. The [tokens, vocab]
    logits are formed chunk by chunk so memory stays bounded for large vocabularies."""
    train = opts is not None
    exits = sorted({h.E for h in heads})
    with torch.no_grad(), autocast(args):
        xn, hidden = model.forward(inp, exits)
    B, T = inp.shape
    Ntok = B * T
    y = labels.reshape(-1).to(model.device)
    xn = xn.reshape(Ntok, -1)
    feats, leafs = {}, {}
    for h in heads:
        with torch.set_grad_enabled(train and h.trainable), autocast(args):
            z = h.features(hidden[h.E]).reshape(Ntok, -1)
        feats[h.name] = z
        leafs[h.name] = z.detach().requires_grad_(train and h.trainable)
    if train:
        for h in heads:
            if h.trainable:
                opts[h.name].zero_grad(set_to_none=True)
    sums = {h.name: [0.0, 0.0] for h in heads}
    for a in range(0, Ntok, chunk):
        b = min(Ntok, a + chunk)
        with torch.no_grad(), autocast(args):
            tl = model.logits(xn[a:b])
        tp, neg_entropy, _ = teacher_stats(tl.float())
        for h in heads:
            g = train and h.trainable
            with torch.set_grad_enabled(g):
                with autocast(args):
                    lg = h.logits(leafs[h.name][a:b])
                lg = lg.float()
            kl, ce, grad = head_loss(lg.detach(), tp, neg_entropy, y[a:b], 1.0 / Ntok if g else None)
            if g:
                lg.backward(grad)
            sums[h.name][0] += kl
            sums[h.name][1] += ce
    if train:
        for h in heads:
            if h.trainable:
                feats[h.name].backward(leafs[h.name].grad)
                torch.nn.utils.clip_grad_norm_(h.parameters(), 1.0)
                for g in opts[h.name].param_groups:
                    g["lr"] = lr
                opts[h.name].step()
    return {n: (s[0] / Ntok, s[1] / Ntok) for n, s in sums.items()}


def write_token_frequencies(path, tokens, vocab, source):
    """The runtime's token_frequencies.json (DraftVocabulary.java): every token id, most frequent first in
    `tokens` (ties by id), for heads that draft over a reduced vocabulary (`--head transformer-l8+v4096`)."""
    tokens = np.asarray(tokens)
    tokens = tokens[(tokens >= 0) & (tokens < vocab)]
    counts = np.bincount(tokens, minlength=vocab)
    order = sorted(range(vocab), key=lambda t: (-int(counts[t]), t))
    meta = {"format_version": 1,
            "description": "token ids, most frequent first, counted on the head trainer's training text",
            "source": source, "tokens_counted": int(tokens.size),
            "token_ids": order, "counts": [int(counts[t]) for t in order]}
    with open(path, "w") as f:
        json.dump(meta, f, separators=(",", ":"))
        f.write("\n")
    return order


def make_batch(rng, stream, prefix, B, seq):
    L = seq + 1 - len(prefix)
    offs = rng.integers(0, len(stream) - L + 1, size=B)
    rows = [np.concatenate([np.asarray(prefix, dtype=np.int64), stream[o:o + L]]) for o in offs]
    x = torch.from_numpy(np.stack(rows))
    return x[:, :-1], x[:, 1:]


def eval_windows(stream, prefix, seq, max_positions):
    """Consecutive windows of the held-out stream, each prefixed like a training row."""
    L = seq + 1 - len(prefix)
    rows, total = [], 0
    for o in range(0, len(stream) - 1, L):
        w = stream[o:o + L]
        if len(w) + len(prefix) < 2 or total >= max_positions:
            break
        rows.append(np.concatenate([np.asarray(prefix, dtype=np.int64), w]))
        total += len(rows[-1]) - 1
    return rows


@torch.no_grad()
def evaluate_heldout(model, heads, rows, args, chunk):
    """Teacher-forced over the held-out windows: per head α (argmax == full argmax), KL, CE."""
    hits = {h.name: 0 for h in heads}
    kl = {h.name: 0.0 for h in heads}
    ce = {h.name: 0.0 for h in heads}
    full_ce, n = 0.0, 0
    exits = sorted({h.E for h in heads})
    by_len = {}
    for r in rows:
        by_len.setdefault(len(r), []).append(r)
    for L, rs in by_len.items():
        for i in range(0, len(rs), max(1, args.batch)):
            x = torch.from_numpy(np.stack(rs[i:i + args.batch]))
            inp, y = x[:, :-1], x[:, 1:].reshape(-1).to(model.device)
            with autocast(args):
                xn, hidden = model.forward(inp, exits)
                feats = {h.name: h.features(hidden[h.E]).reshape(y.numel(), -1) for h in heads}
            xn = xn.reshape(y.numel(), -1)
            for a in range(0, y.numel(), chunk):
                b = min(y.numel(), a + chunk)
                with autocast(args):
                    tl = model.logits(xn[a:b]).float()
                tp, neg_entropy, lse = teacher_stats(tl)
                full_arg = tl.argmax(-1)
                full_ce += float((lse - tl.gather(1, y[a:b, None]).squeeze(-1)).sum())
                for h in heads:
                    with autocast(args):
                        lg = h.logits(feats[h.name][a:b]).float()
                    k, c, _ = head_loss(lg, tp, neg_entropy, y[a:b])
                    hits[h.name] += int((lg.argmax(-1) == full_arg).sum())
                    kl[h.name] += k
                    ce[h.name] += c
            n += y.numel()
    if n == 0:
        return None
    return {"positions": n, "full_ce": full_ce / n,
            "heads": {h.name: {"alpha": hits[h.name] / n, "kl": kl[h.name] / n, "ce": ce[h.name] / n} for h in heads}}


@torch.no_grad()
def evaluate_prompts(model, heads, prompts, tok, prefix, gen, args):
    """models/recipe/evaluate.py's protocol: the full model continues each prompt greedily by `gen` tokens;
    α = fraction of those positions where the head's argmax over the same prefix equals the full model's."""
    hits = {h.name: 0 for h in heads}
    total = 0
    exits = sorted({h.E for h in heads})
    for _, text in prompts:
        ids = list(prefix) + tok.encode(text)
        ids = ids[-max(1, model.cfg.max_positions - gen):]
        seq = model.greedy(ids, gen)
        x = torch.tensor([seq[:-1]])
        with autocast(args):
            xn, hidden = model.forward(x, exits)
        P = len(ids) - 1
        full = model.logits(xn[0, P:]).float().argmax(-1)
        for h in heads:
            with autocast(args):
                hd = h.logits(h.features(hidden[h.E])[0, P:]).float().argmax(-1)
            hits[h.name] += int((hd == full).sum())
        total += gen
    return {"positions": total, "prompts": len(prompts), "heads": {n: hits[n] / total for n in hits}}


def fmt_time(s):
    s = int(max(0, s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def save_state(path, state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


HPARAMS = {"batch": 8, "seq": 512, "lr": 1e-3, "warmup": 20, "seed": 1234, "heldout": 0.05,
           "weight_decay": 0.0}


def run(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    ckpt = args.checkpoint
    cfg = read_config(ckpt)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise TrainerError("--device cuda: no CUDA device is available to PyTorch")
    if not (args.text or args.jsonl or args.token_ids):
        raise TrainerError("no training data: give --text FILE, --jsonl FILE or --token-ids FILE")
    out = args.out or os.path.join(ckpt, "exit_heads")
    work = args.work or os.path.join(out, ".train_exit_heads")
    os.makedirs(work, exist_ok=True)
    state_path = os.path.join(work, "state.pt")
    with open(cfg.path, "rb") as f:
        config_sha = hashlib.sha1(f.read()).hexdigest()

    saved = None
    if not args.resume and os.path.isfile(state_path):
        log(f"note: starting a new run; the saved state {state_path} will be replaced (--resume continues it)")
    if args.resume:
        if not os.path.isfile(state_path):
            raise TrainerError(f"--resume: no saved state {state_path} (run once without --resume first)")
        saved = torch.load(state_path, map_location="cpu")
        if saved.get("config_sha1") != config_sha:
            raise TrainerError(f"--resume: {state_path} was saved for a different config.json")
    # hyper-parameters: given > saved run's > default
    for k, d in HPARAMS.items():
        if getattr(args, k) is None:
            setattr(args, k, saved["hparams"][k] if saved else d)
        elif saved and saved["hparams"][k] != getattr(args, k):
            log(f"note: --{k.replace('_', '-')} {getattr(args, k)} overrides the saved run's {saved['hparams'][k]}")
    if args.heads is None:
        if not saved:
            raise TrainerError("--heads is required (e.g. --heads norm:8,linear:8,transformer:4)")
        args.heads = saved["heads_spec"]
    specs = parse_heads(args.heads, cfg.num_layers)
    if saved and [tuple(s) for s in saved["heads"]] != specs:
        raise TrainerError(f"--resume: the saved run trains heads {saved['heads_spec']!r}, not {args.heads!r}")
    if args.seq < 2 or args.seq > cfg.max_positions:
        raise TrainerError(f"--seq {args.seq} must be in [2, max_position_embeddings={cfg.max_positions}]")
    if cfg.sliding_window and cfg.sliding_window < args.seq + (args.eval_gen if args.eval_jsonl else 0):
        raise TrainerError(f"sliding_window {cfg.sliding_window} is shorter than --seq + --eval-gen: windowed "
                           f"attention is not implemented")
    if args.batch < 1:
        raise TrainerError("--batch must be at least 1")
    if not 0 <= args.heldout < 1:
        raise TrainerError("--heldout must be a fraction in [0, 1)")
    if args.steps is not None and args.steps < 0:
        raise TrainerError("--steps must be >= 0")
    if args.minutes is not None and not args.minutes > 0:
        raise TrainerError("--minutes must be > 0")
    total_steps = args.steps if args.steps is not None else (None if args.minutes is not None else 200)
    budget = args.minutes * 60 if args.minutes is not None else None

    stream, prefix, data_sha, tok, tok_name = build_stream(args, cfg, work)
    if saved and saved["data_sha1"] != data_sha:
        raise TrainerError("--resume: the training data (or tokenizer) differs from the saved run's")
    n_eval = int(len(stream) * args.heldout)
    train_s, eval_s = stream[:len(stream) - n_eval], stream[len(stream) - n_eval:]
    if args.token_frequencies:
        freq_path = os.path.join(os.path.dirname(os.path.abspath(out)), "token_frequencies.json")
        write_token_frequencies(freq_path, train_s, cfg.vocab_size, "tools/train-heads/train_exit_heads.py --token-frequencies")
        log(f"wrote {freq_path}: the vocabulary by frequency in the {len(train_s):,} training tokens "
            f"(for reduced-vocabulary heads, --head <name>+v<K>)")
    need = args.seq + 1 - len(prefix)
    if len(train_s) < need:
        src = ", ".join((args.text or []) + (args.jsonl or []) + (args.token_ids or []))
        raise TrainerError(f"the training text is too short: {src} gives {len(stream):,} tokens, {len(train_s):,} "
                           f"after holding out {n_eval:,} ({args.heldout:.0%}) for evaluation; one training "
                           f"sequence of --seq {args.seq} needs {need:,}. Give more text or a smaller --seq.")

    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
             "float64": torch.float64}[args.dtype]
    t_load = time.time()
    model = FrozenModel(ckpt, cfg, dtype=dtype, device=args.device)
    N = cfg.num_layers
    heads = [Head(k, E, model) for k, E in specs]
    log(f"model: {cfg.model_type}, {N} layers, hidden {cfg.hidden_size}, vocab {cfg.vocab_size}, weights "
        f"{model.ckpt_dtype} -> {args.dtype} on {args.device} ({time.time() - t_load:.1f} s); heads: "
        + ", ".join(h.name for h in heads))
    log(f"data: {len(stream):,} tokens ({tok_name} tokenizer), {len(train_s):,} for training, {len(eval_s):,} held out"
        + (f"; every sequence starts with {prefix}" if prefix else ""))
    trainable = [h for h in heads if h.trainable]
    opts = {h.name: torch.optim.AdamW(h.parameters(), lr=args.lr, betas=(0.9, 0.95), eps=1e-8,
                                      weight_decay=args.weight_decay) for h in trainable}
    chunk = args.loss_chunk or max(128, min(4096, (1 << 22) // cfg.vocab_size))  # [chunk, vocab] f32 = 16 MB
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    step, tokens, elapsed = 0, 0, 0.0
    hist = {h.name: [] for h in heads}
    first_losses = None
    if saved:
        for h in trainable:
            h.load_state(saved["head_state"][h.name])
            opts[h.name].load_state_dict(saved["opt_state"][h.name])
        rng.bit_generator.state = saved["np_rng"]
        torch.set_rng_state(saved["torch_rng"])
        step, tokens, elapsed = saved["step"], saved["tokens"], saved["elapsed"]
        hist = saved["hist"]
        first_losses = saved.get("first_losses")
        log(f"resumed from {state_path}: step {step}, {tokens:,} tokens, {fmt_time(elapsed)} trained")

    def state():
        return {"version": 1, "config_sha1": config_sha, "data_sha1": data_sha, "heads": specs,
                "heads_spec": args.heads, "hparams": {k: getattr(args, k) for k in HPARAMS},
                "step": step, "tokens": tokens, "elapsed": elapsed, "hist": hist, "first_losses": first_losses,
                "head_state": {h.name: h.state() for h in trainable},
                "opt_state": {h.name: opts[h.name].state_dict() for h in trainable},
                "np_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()}

    def progress():
        p = []
        if total_steps is not None:
            p.append(step / total_steps if total_steps > 0 else 1.0)
        if budget is not None:
            p.append(elapsed / budget)
        return max(p)

    t_session = time.time()
    t_last_log = t_last_save = time.time()
    tok_since, t_since = 0, time.time()
    start_step = step
    interrupted = False
    try:
        while trainable and progress() < 1.0:
            if args.stop_after is not None and step - start_step >= args.stop_after:
                log(f"stopping after {args.stop_after} steps of this run (--stop-after); continue with --resume")
                break
            t_step = time.time()
            lr = lr_at(args, step, progress())
            inp, labels = make_batch(rng, train_s, prefix, args.batch, args.seq)
            losses = step_losses(model, heads, inp, labels, chunk, args, opts, lr)
            step += 1
            tokens += labels.numel()
            tok_since += labels.numel()
            elapsed += time.time() - t_step
            for n, (kl, ce) in losses.items():
                hist[n].append((kl, ce))
                del hist[n][:-50]
            if first_losses is None:
                first_losses = {n: kl + ce for n, (kl, ce) in losses.items()}
            now = time.time()
            if now - t_last_log >= args.log_every or step == start_step + 1 or progress() >= 1.0:
                tps = tok_since / max(1e-9, now - t_since)
                if total_steps is not None and (budget is None or step / total_steps >= elapsed / budget):
                    eta = (total_steps - step) * (now - t_session) / max(1, step - start_step)
                    where = f"step {step}/{total_steps}"
                else:
                    eta = budget - elapsed
                    where = f"step {step} ({fmt_time(elapsed)}/{fmt_time(budget)})"
                mean = sum(kl + ce for n, (kl, ce) in losses.items() if n in opts) / max(1, len(opts))
                per = "  ".join(f"{n} {kl + ce:.3f} (kl {kl:.3f})" for n, (kl, ce) in losses.items())
                log(f"{where}  loss {mean:.4f}  [{per}]  lr {lr:.2e}  {tps:,.0f} tok/s  ETA {fmt_time(eta)}")
                t_last_log, tok_since, t_since = now, 0, now
            if now - t_last_save >= args.save_every:
                save_state(state_path, state())
                t_last_save = now
    except KeyboardInterrupt:
        interrupted = True
        log(f"interrupted at step {step}: saving the state (continue with --resume) and writing the heads")
    if trainable:
        save_state(state_path, state())

    # evaluation and output
    results = {"steps": step, "tokens": tokens, "elapsed_s": elapsed, "heads": {}, "out": out,
               "state": state_path, "first_losses": first_losses}
    eval_args = argparse.Namespace(**vars(args))
    eval_args.amp = False  # α in full precision, as the runtime computes it
    rows = eval_windows(eval_s, prefix, args.seq, args.eval_tokens)
    held = evaluate_heldout(model, heads, rows, eval_args, chunk) if rows else None
    results["heldout"] = held
    prompt_sets = {}
    for path in args.eval_jsonl or []:
        prompts = read_jsonl(path, "--eval-jsonl")[:args.eval_prompts or None]
        if tok is None:
            tok, tok_name = load_tokenizer(os.path.join(ckpt, "tokenizer.json"), args.tokenizer)
        name = os.path.splitext(os.path.basename(path))[0]
        t0 = time.time()
        prompt_sets[name] = evaluate_prompts(model, heads, prompts, tok, prefix, args.eval_gen, eval_args)
        log(f"evaluated {len(prompts)} prompts of {path} ({args.eval_gen} greedy tokens each) in {time.time() - t0:.1f} s")
    results["prompts"] = prompt_sets

    src = [os.path.basename(p) for p in (args.text or []) + (args.jsonl or []) + (args.token_ids or [])]
    for h in heads:
        last = hist[h.name][-20:]
        trained = {"steps": step if h.trainable else 0, "tokens": tokens if h.trainable else 0,
                   "minutes": round(elapsed / 60, 2) if h.trainable else 0,
                   "loss": "KL(full||head) + CE" if h.trainable else "none (uses the model's final norm + lm_head)"}
        if last:
            trained["final_train_kl"] = round(float(np.mean([a for a, _ in last])), 4)
            trained["final_train_ce"] = round(float(np.mean([b for _, b in last])), 4)
        trained |= {"lr": args.lr, "batch": f"{args.batch}x{args.seq}", "seed": args.seed, "init": h.init_description(),
                    "data": src, "trainer": "tools/train-heads/train_exit_heads.py"}
        if held:
            trained["heldout"] = {"positions": held["positions"]} | {k: round(v, 4) for k, v in held["heads"][h.name].items()}
        for name, res in prompt_sets.items():
            trained[f"alpha_{name}"] = round(res["heads"][h.name], 4)
        desc = (f"{h.kind} exit head after layer {h.E} of {N}, trained by self-distillation "
                f"(KL to the full model + next-token CE) on {', '.join(src)}" if h.trainable
                else f"the model's own final norm and LM head applied after layer {h.E} of {N} (no weights)")
        dt = "F32" if args.save_dtype == "f32" else (model.ckpt_dtype if model.ckpt_dtype in ("BF16", "F16") else "F32")
        path = write_head(h, out, trained, dt, desc)
        results["heads"][h.name] = {"file": path} | (held["heads"][h.name] if held else {})
    print_report(results, heads, N, step, tokens, elapsed)
    results["interrupted"] = interrupted
    return results


def print_report(results, heads, N, step, tokens, elapsed):
    held = results["heldout"]
    sets = results["prompts"]
    print(f"trained {step} steps, {tokens:,} tokens in {fmt_time(elapsed)}"
          + (f" ({tokens / elapsed:,.0f} tokens/s)" if elapsed > 0 else "") + f"; heads written to {results['out']}")
    cols = ["head", "E"]
    if held:
        cols += [f"α held-out ({held['positions']} pos)", "KL", "CE"]
    cols += [f"α {n} ({r['positions']} pos)" for n, r in sets.items()]
    print(" | ".join(cols))
    for h in heads:
        row = [h.name, str(h.E)]
        if held:
            r = held["heads"][h.name]
            row += [f"{r['alpha']:.3f}", f"{r['kl']:.3f}", f"{r['ce']:.3f}"]
        row += [f"{r['heads'][h.name]:.3f}" for r in sets.values()]
        print(" | ".join(row))
    if held:
        print(f"full model held-out CE {held['full_ce']:.3f}")
    sys.stdout.flush()


def build_parser():
    ap = argparse.ArgumentParser(
        prog="train_exit_heads.py",
        description="Train early-exit heads for a Hugging Face LLaMA-family checkpoint by self-distillation "
                    "(KL to the frozen full model + next-token CE) and write them in ppsd's exit_heads format.")
    ap.add_argument("checkpoint", help="checkpoint directory: config.json, model.safetensors (or an index + shards), "
                                       "tokenizer.json")
    ap.add_argument("--heads", help="comma-separated KIND:EXIT_LAYER, KIND in norm, linear, transformer "
                                    "(e.g. norm:8,linear:8,transformer:4,transformer:8)")
    d = ap.add_argument_group("data")
    d.add_argument("--text", action="append", metavar="FILE", help="plain UTF-8 text (one document per file; repeatable)")
    d.add_argument("--jsonl", action="append", metavar="FILE", help="one JSON object per line with a 'text' field (repeatable)")
    d.add_argument("--token-ids", action="append", metavar="FILE",
                   help="pre-tokenized ids: .npy or whitespace-separated integers (repeatable)")
    d.add_argument("--tokenizer", choices=["auto", "builtin", "hf"], default="auto",
                   help="auto: HF 'tokenizers' if importable, else the built-in BPE (default)")
    d.add_argument("--heldout", type=float, help="fraction of the token stream (its end) held out for evaluation (0.05)")
    t = ap.add_argument_group("training")
    t.add_argument("--steps", type=int, help="total optimizer steps (default 200 unless --minutes is given)")
    t.add_argument("--minutes", type=float, help="total training time budget in minutes (stops at whichever comes first)")
    t.add_argument("--batch", type=int, help="sequences per step (8)")
    t.add_argument("--seq", type=int, help="tokens per sequence (512)")
    t.add_argument("--lr", type=float, help="peak AdamW learning rate (1e-3), cosine decay to 10%%")
    t.add_argument("--warmup", type=int, help="linear warm-up steps (20)")
    t.add_argument("--weight-decay", type=float, help="AdamW weight decay (0)")
    t.add_argument("--seed", type=int, help="seed for batch sampling (1234)")
    t.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    t.add_argument("--dtype", choices=["float32", "bfloat16", "float16", "float64"], default="float32",
                   help="dtype of the frozen model's weights and forward (heads keep float32 master weights)")
    t.add_argument("--amp", action="store_true", help="bfloat16 autocast for the matrix products (faster on "
                                                      "AMX/AVX512-BF16 CPUs and GPUs)")
    t.add_argument("--threads", type=int, help="torch CPU threads")
    t.add_argument("--loss-chunk", type=int, help="positions per [positions, vocab] logits chunk (auto: 16 MB of float32, at least 128)")
    o = ap.add_argument_group("output")
    o.add_argument("--out", help="output directory (default CHECKPOINT/exit_heads)")
    o.add_argument("--work", help="state/cache directory (default OUT/.train_exit_heads)")
    o.add_argument("--resume", action="store_true", help="continue the run saved in the work directory")
    o.add_argument("--token-frequencies", action="store_true",
                   help="also write token_frequencies.json beside the output directory (the model directory by default): "
                        "the vocabulary by frequency in the training text, for reduced-vocabulary heads (--head NAME+vK)")
    o.add_argument("--stop-after", type=int, metavar="N",
                   help="stop after N steps of this invocation (the LR schedule still spans --steps/--minutes); "
                        "continue with --resume")
    o.add_argument("--save-every", type=float, default=60.0, help="seconds between state saves (60)")
    o.add_argument("--save-dtype", choices=["f32", "checkpoint"], default="f32",
                   help="dtype of the written head tensors: F32, or the checkpoint's (BF16/F16)")
    o.add_argument("--log-every", type=float, default=10.0, help="seconds between progress lines (10)")
    e = ap.add_argument_group("evaluation")
    e.add_argument("--eval-tokens", type=int, default=8192, help="held-out positions to evaluate α on (8192)")
    e.add_argument("--eval-jsonl", action="append", metavar="FILE",
                   help="prompts (JSONL with 'text'): α over --eval-gen greedy tokens of the full model per prompt")
    e.add_argument("--eval-gen", type=int, default=64, help="greedy tokens per --eval-jsonl prompt (64)")
    e.add_argument("--eval-prompts", type=int, default=0, help="at most this many prompts per --eval-jsonl file")
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)
    if _IMPORT_ERROR is not None:
        log(f"{PROG}: error: needs PyTorch and numpy ({_IMPORT_ERROR}); on Debian: apt-get install python3-torch "
            f"python3-numpy, and run /usr/bin/python3")
        return 2
    try:
        run(args)
    except TrainerError as e:
        log(f"{PROG}: error: {e}")
        return 2
    return 0


# glibc returns freed blocks above a (dynamic) threshold to the kernel, and PyTorch's temporaries are
# exactly such blocks: every step then page-faults its activations in again. On the VMs this was written
# on that made the forward 3-7x slower. Keeping freed memory in the process fixes it; the settings must
# be in the environment when the process starts, so the script re-executes itself once with them.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(16 << 30),
              "MALLOC_TOP_PAD_": str(256 << 20)}


def _reexec_with_malloc_settings():
    if os.environ.get("PPSD_TRAINER_NO_REEXEC") or sys.platform != "linux" or all(k in os.environ for k in MALLOC_ENV):
        return
    env = dict(os.environ)
    for k, v in MALLOC_ENV.items():
        env.setdefault(k, v)
    try:
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)
    except OSError:
        pass  # run as is


if __name__ == "__main__":
    _reexec_with_malloc_settings()
    sys.exit(main())
