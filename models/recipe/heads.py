"""Early-exit heads (see models/README.md for the on-disk format)."""
import copy
import json
import os

import torch
import torch.nn as nn

from model import RMSNorm, rope_cos_sin
from st_io import write_safetensors, read_safetensors


class NormHead(nn.Module):
    """The model's own final norm + LM head at layer E (no weights of its own)."""
    kind = "norm"

    def __init__(self, base, E):
        super().__init__()
        self.E = E
        self._base = [base]  # not a submodule: nothing to train or save

    def forward(self, h, start_pos=0, cache=None):
        b = self._base[0]
        return b.lm_head(b.norm(h))

    def tensors(self):
        return {}


class LinearHead(nn.Module):
    """Own RMSNorm + own projection to the vocabulary: logits = proj(rmsnorm(h_E))."""
    kind = "linear"

    def __init__(self, base, E):
        super().__init__()
        self.E = E
        self.norm = RMSNorm(base.cfg.hidden_size, base.cfg.rms_norm_eps)
        self.proj = nn.Linear(base.cfg.hidden_size, base.cfg.vocab_size, bias=False)
        with torch.no_grad():
            self.norm.weight.copy_(base.norm.weight)
            self.proj.weight.copy_(base.lm_head.weight)

    def forward(self, h, start_pos=0, cache=None):
        return self.proj(self.norm(h))

    def tensors(self):
        return {"norm.weight": self.norm.weight, "proj.weight": self.proj.weight}


class TransformerHead(nn.Module):
    """One extra decoder layer (own KV cache) + own RMSNorm + the model's shared LM head.
    Initialized from model layer E (copy) and the final norm."""
    kind = "transformer"

    def __init__(self, base, E):
        super().__init__()
        self.E = E
        self.cfg = base.cfg
        self.layer = copy.deepcopy(base.layers[min(E, base.cfg.num_hidden_layers - 1)])
        self.norm = RMSNorm(base.cfg.hidden_size, base.cfg.rms_norm_eps)
        with torch.no_grad():
            self.norm.weight.copy_(base.norm.weight)
        self._base = [base]

    def forward(self, h, start_pos=0, cache=None):
        T = h.shape[1]
        cos, sin = rope_cos_sin(self.cfg, torch.arange(start_pos, start_pos + T), dtype=h.dtype)
        x = self.layer(h, cos, sin, cache)
        return self._base[0].lm_head(self.norm(x))

    def tensors(self):
        return {"layer." + k: v for k, v in self.layer.state_dict().items()} | {"norm.weight": self.norm.weight}


KINDS = {"norm": NormHead, "linear": LinearHead, "transformer": TransformerHead}


def head_name(kind, E):
    return f"{kind}-l{E}"


def save_head(head, name, outdir, trained):
    os.makedirs(outdir, exist_ok=True)
    t = {k: v.detach().float() for k, v in head.tensors().items()}
    meta = {"format_version": 1, "name": name, "kind": head.kind, "exit_layer": head.E,
            "tensors": {k: list(v.shape) for k, v in sorted(t.items())},
            "dtype": "F32", "trained": trained}
    if t:
        write_safetensors(os.path.join(outdir, name + ".safetensors"), t)
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        json.dump(meta, f, indent=2)


def load_head(base, outdir, name):
    meta = json.load(open(os.path.join(outdir, name + ".json")))
    head = KINDS[meta["kind"]](base, meta["exit_layer"])
    if meta["tensors"]:
        t = read_safetensors(os.path.join(outdir, name + ".safetensors"))
        if meta["kind"] == "linear":
            head.load_state_dict({k: v for k, v in t.items()})
        else:
            head.layer.load_state_dict({k[len("layer."):]: v for k, v in t.items() if k.startswith("layer.")})
            head.norm.weight.data.copy_(t["norm.weight"])
    head.eval()
    return head, meta
