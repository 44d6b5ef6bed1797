"""Minimal safetensors reader/writer (F32/BF16/F16), no third-party package needed."""
import json
import struct

import numpy as np
import torch

_NP = {"F32": np.float32, "F16": np.float16}


def write_safetensors(path, tensors, metadata=None):
    """Names sorted; data laid out in that order; header JSON padded with spaces to 8 bytes."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype == torch.bfloat16:
            b, dt = t.view(torch.int16).numpy().astype("<i2").tobytes(), "BF16"
        elif t.dtype == torch.float16:
            b, dt = t.numpy().astype("<f2").tobytes(), "F16"
        else:
            b, dt = t.float().numpy().astype("<f4").tobytes(), "F32"
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = metadata or {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[a:b]
        if info["dtype"] == "BF16":
            t = torch.from_numpy(np.frombuffer(raw, dtype="<i2").copy()).view(torch.bfloat16)
        else:
            t = torch.from_numpy(np.frombuffer(raw, dtype=_NP[info["dtype"]]).copy())
        out[name] = t.reshape(info["shape"])
    return out
