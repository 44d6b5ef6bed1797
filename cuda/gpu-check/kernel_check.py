#!/usr/bin/env python3
"""The GPU check of the CUDA backend's decode kernels (issue #14), through the CUDA driver API.

Loads the backend's own kernels (PTX or cubins built from cuda/src/main/cuda), launches them with
the same geometry as CudaForward, checks each result against a float64 reference computed here
with numpy, and times it with CUDA events: achieved bytes per second against the device's measured
copy bandwidth. It needs only libcuda.so.1, numpy and the compiled kernels, so it runs:

  - on a GPU (the device tool's H200): cuda/gpu-check/run.sh, Llama-3-8B-shaped layers;
  - here, on the CPU emulation of the driver (cuda/target/emu/libcuda.so.1) with --shape tiny:
    GpuCheckScriptTest runs it that way in the build, so the script is known to work before a
    device session spends minutes on it. Its timings there mean nothing.

Output: one line per check while it runs, a table at the end, and --out DIR/kernel_check.json.
Exit status 1 when a result is wrong (or a launch fails), 0 otherwise.
"""
import argparse
import ctypes
import json
import math
import os
import re
import statistics
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
KERNEL_JAVA = os.path.join(HERE, "..", "src", "main", "java", "io", "ppsd", "cuda", "Kernel.java")

# Shapes: hidden, query heads, KV heads, head_dim, MLP, vocabulary, contexts, bytes to exceed for
# "out of L2" (inputs are rotated among copies until their total passes this).
SHAPES = {
    "8b": dict(dim=4096, heads=32, kv_heads=8, head_dim=128, ffn=14336, vocab=128256, contexts=[512, 4096, 32768],
               rotate_bytes=4 * 60 * 2**20, reps=50, layers=4),
    "tiny": dict(dim=320, heads=4, kv_heads=2, head_dim=80, ffn=208, vocab=300, contexts=[40, 100],
                 rotate_bytes=0, reps=2, layers=2),
}
GEMV_MAX_TOKENS, GEMV_WARPS = 8, 8
ATTN_THREADS, ATTN_MAX_HEADS, ATTN_MAX_DIMS, ATTN_TILE = 128, 8, 1024, 32
CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16


def kernel_signatures():
    """symbol -> parameter kinds ('p' pointer, 'i' int, 'f' float), read from Kernel.java (one declaration for both)."""
    text = open(KERNEL_JAVA, encoding="utf-8").read()
    return {m.group(1): m.group(2) for m in re.finditer(r'\w+\("(\w+)", "\w+", "([pif]*)"\)', text)}


class CudaError(RuntimeError):
    pass


class Driver:
    """The few driver calls this check needs, on the default stream of device 0's primary context."""

    def __init__(self, lib):
        self.cu = ctypes.CDLL(lib)
        self.signatures = kernel_signatures()
        self.call("cuInit", ctypes.c_uint(0))
        dev = ctypes.c_int()
        self.call("cuDeviceGet", ctypes.byref(dev), 0)
        self.ctx = ctypes.c_void_p()
        self.call("cuDevicePrimaryCtxRetain", ctypes.byref(self.ctx), dev)
        self.call("cuCtxSetCurrent", self.ctx)
        sms = ctypes.c_int()
        self.call("cuDeviceGetAttribute", ctypes.byref(sms), CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev)
        self.sms = sms.value
        name = ctypes.create_string_buffer(256)
        self.call("cuDeviceGetName", name, 256, dev)
        self.name = name.value.decode()
        self.functions = {}
        self.allocations = []

    def call(self, fn, *args):
        r = getattr(self.cu, fn)(*args)
        if r != 0:
            text = ctypes.c_char_p()
            self.cu.cuGetErrorName(r, ctypes.byref(text))
            raise CudaError(f"{fn} failed: {r} {text.value.decode() if text.value else ''}")

    def alloc(self, nbytes):
        ptr = ctypes.c_uint64()
        self.call("cuMemAlloc_v2", ctypes.byref(ptr), ctypes.c_size_t(nbytes))
        self.allocations.append(ptr.value)
        return ptr.value

    def put(self, array):
        """A device copy of a numpy array; returns its address."""
        array = np.ascontiguousarray(array)
        addr = self.alloc(array.nbytes)
        self.call("cuMemcpyHtoD_v2", ctypes.c_uint64(addr), array.ctypes.data_as(ctypes.c_void_p), ctypes.c_size_t(array.nbytes))
        return addr

    def get(self, addr, shape, dtype):
        out = np.empty(shape, dtype=dtype)
        self.call("cuMemcpyDtoH_v2", out.ctypes.data_as(ctypes.c_void_p), ctypes.c_uint64(addr), ctypes.c_size_t(out.nbytes))
        return out

    def poison(self, addr, count):
        """Fills count floats with NaN, so an element a kernel never wrote shows up."""
        self.call("cuMemsetD32_v2", ctypes.c_uint64(addr), ctypes.c_uint(0x7FC00000), ctypes.c_size_t(count))

    def load(self, modules_dir, module):
        for ext in (".cubin", ".ptx"):
            path = os.path.join(modules_dir, module + ext)
            if os.path.exists(path):
                data = open(path, "rb").read() + b"\0"
                handle = ctypes.c_void_p()
                self.call("cuModuleLoadData", ctypes.byref(handle), ctypes.c_char_p(data))
                return handle
        raise FileNotFoundError(f"no {module}.cubin or {module}.ptx in {modules_dir}")

    def function(self, module_handle, symbol):
        f = ctypes.c_void_p()
        self.call("cuModuleGetFunction", ctypes.byref(f), module_handle, symbol.encode())
        return f

    def launch(self, kernel, args, grid, block):
        """Launches kernel(*args), packing each argument as its declared kind; kernelParams is null-terminated."""
        f, symbol = kernel
        kinds = self.signatures[symbol]
        if len(kinds) != len(args):
            raise ValueError(f"{symbol} takes {len(kinds)} arguments ({kinds}), {len(args)} given")
        boxes = [ctypes.c_uint64(a) if k == "p" else ctypes.c_int32(a) if k == "i" else ctypes.c_float(a) for k, a in zip(kinds, args)]
        params = (ctypes.c_void_p * (len(boxes) + 1))(*[ctypes.cast(ctypes.byref(b), ctypes.c_void_p) for b in boxes], None)
        gx, gy = grid
        self.call("cuLaunchKernel", f, gx, gy, 1, block, 1, 1, 0, None, params, None)

    def sync(self):
        self.call("cuCtxSynchronize")

    def time_ms(self, work, reps, warmup=3):
        """Median over reps of the device time of work(rep), between two events on the default stream."""
        start, end = ctypes.c_void_p(), ctypes.c_void_p()
        self.call("cuEventCreate", ctypes.byref(start), 0)
        self.call("cuEventCreate", ctypes.byref(end), 0)
        for r in range(warmup):
            work(r)
        self.sync()
        times = []
        for r in range(reps):
            self.call("cuEventRecord", start, None)
            work(r)
            self.call("cuEventRecord", end, None)
            self.call("cuEventSynchronize", end)
            ms = ctypes.c_float()
            self.call("cuEventElapsedTime_v2", ctypes.byref(ms), start, end)
            times.append(ms.value)
        self.call("cuEventDestroy_v2", start)
        self.call("cuEventDestroy_v2", end)
        return statistics.median(times)

    def copy_bandwidth(self, nbytes, reps):
        """Bytes read plus written per second by a device-to-device copy: the memory ceiling used below."""
        a, b = self.alloc(nbytes), self.alloc(nbytes)
        ms = self.time_ms(lambda r: self.call("cuMemcpyDtoD_v2", ctypes.c_uint64(b), ctypes.c_uint64(a), ctypes.c_size_t(nbytes)), reps)
        return 2 * nbytes / (ms / 1e3)

    def close(self):
        for addr in self.allocations:
            self.cu.cuMemFree_v2(ctypes.c_uint64(addr))
        self.allocations.clear()


def bf16_bits(x):
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_value(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def rel_err(out, ref):
    out = np.asarray(out, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        return float("inf")
    return float(np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-300))


def rms_scaled(x, g, eps):
    x = x.astype(np.float64)
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g.astype(np.float64)


class Check:
    def __init__(self, shape, modules, driver, reps):
        self.s, self.d, self.reps = shape, driver, reps
        self.rng = np.random.default_rng(20261202)
        mods = {m: driver.load(modules, m) for m in ("matmul", "qkv", "attention", "tensor")}
        self.k = {name: (driver.function(mods[mod], name), name) for mod, names in
                  (("matmul", ["gemv_bf16", "gate_up_bf16", "gemm_bf16"]), ("qkv", ["qkv_bf16"]), ("attention", ["attention"]),
                   ("tensor", ["gemm_tc_bf16"]))
                  for name in names}
        self.rows = []
        self.failed = []
        self.ceiling = None
        self.eps = 1e-5

    def weights(self, rows, cols, copies=1):
        """Random BF16 weights (bits, their float64 values) and `copies` device copies of them."""
        w = bf16_bits(self.rng.standard_normal((rows, cols), dtype=np.float32) / math.sqrt(cols))
        return w, bf16_value(w).astype(np.float64), [self.d.put(w) for _ in range(copies)]

    def copies(self, nbytes):
        rb = self.s["rotate_bytes"]
        return 1 if rb == 0 else max(1, min(16, math.ceil(rb / nbytes)))

    def gemv_grid(self, units):
        return max(1, min(-(-units // GEMV_WARPS), 2 * self.d.sms))

    def record(self, name, nbytes, ms, err, bound, flops=0):
        gbs = nbytes / (ms / 1e3) / 1e9 if ms > 0 else float("nan")
        if flops:
            name += f" [{flops / (ms / 1e3) / 1e12:.1f} TFLOP/s]" if ms > 0 else ""
        share = nbytes / (ms / 1e3) / self.ceiling if ms > 0 and self.ceiling else float("nan")
        ok = err <= bound
        if not ok:
            self.failed.append(name)
        row = dict(check=name, bytes=nbytes, us=ms * 1e3, gb_per_s=gbs, of_copy_bandwidth=share, rel_err=err, bound=bound, ok=ok)
        self.rows.append(row)
        print(f"{name:44s} {nbytes / 1e6:9.1f} MB {ms * 1e3:10.1f} us {gbs:8.0f} GB/s {share:6.1%}  err {err:.2e} {'ok' if ok else 'WRONG'}",
              flush=True)

    def gemv(self, label, rows, cols, n, norm):
        w, w64, copies = self.weights(rows, cols, self.copies(rows * cols * 2))
        x = self.rng.standard_normal((n, cols), dtype=np.float32)
        g = (1 + 0.1 * self.rng.standard_normal(cols)).astype(np.float32)
        xd, gd, out = self.d.put(x), self.d.put(g), self.d.alloc(n * rows * 4)
        self.d.poison(out, n * rows)

        def run(r):
            self.d.launch(self.k["gemv_bf16"], [out, copies[r % len(copies)], xd, gd if norm else 0, self.eps, rows, cols, n, rows, 0],
                          (self.gemv_grid(rows), 1), GEMV_WARPS * 32)

        run(0)
        self.d.sync()
        y = rms_scaled(x, g, self.eps) if norm else x.astype(np.float64)
        err = rel_err(self.d.get(out, (n, rows), np.float32), y @ w64.T)
        ms = self.d.time_ms(run, self.reps)
        self.record(f"gemv {label} {rows}x{cols} n={n}{' +norm' if norm else ''}", rows * cols * 2 + n * cols * 4 + n * rows * 4, ms, err, 1e-5)

    def gemm(self, label, rows, cols, n, tensor):
        """The prefill GEMM: tensor cores (activations split in three BF16 parts) or the SIMT tiles."""
        if tensor and (rows % 16 or cols % 16):
            raise ValueError(f"the tensor-core GEMM needs rows and columns in multiples of 16, not {rows}x{cols}")
        w, w64, copies = self.weights(rows, cols, self.copies(rows * cols * 2))
        x = self.rng.standard_normal((n, cols), dtype=np.float32)
        xd, out = self.d.put(x), self.d.alloc(n * rows * 4)
        self.d.poison(out, n * rows)
        kernel = self.k["gemm_tc_bf16" if tensor else "gemm_bf16"]
        grid = (-(-rows // 64), -(-n // 16)) if tensor else (-(-rows // 64), -(-n // 32))
        block = 128 if tensor else 256

        def run(r):
            self.d.launch(kernel, [out, copies[r % len(copies)], xd, rows, cols, n, rows, 0], grid, block)

        run(0)
        self.d.sync()
        err = rel_err(self.d.get(out, (n, rows), np.float32), x.astype(np.float64) @ w64.T)
        ms = self.d.time_ms(run, self.reps)
        self.record(f"gemm {'tensor cores' if tensor else 'SIMT'} {label} {rows}x{cols} n={n}", rows * cols * 2 + n * cols * 4 + n * rows * 4,
                    ms, err, 1e-5, flops=2 * rows * cols * n)

    def gate_up(self, n):
        s = self.s
        gate, g64, gcopies = self.weights(s["ffn"], s["dim"], self.copies(4 * s["ffn"] * s["dim"]))
        up, u64, ucopies = self.weights(s["ffn"], s["dim"], len(gcopies))
        x = self.rng.standard_normal((n, s["dim"]), dtype=np.float32)
        g = (1 + 0.1 * self.rng.standard_normal(s["dim"])).astype(np.float32)
        xd, gd, out = self.d.put(x), self.d.put(g), self.d.alloc(n * s["ffn"] * 4)
        self.d.poison(out, n * s["ffn"])

        def run(r):
            c = r % len(gcopies)
            self.d.launch(self.k["gate_up_bf16"], [out, gcopies[c], ucopies[c], xd, gd, self.eps, s["ffn"], s["dim"], n],
                          (self.gemv_grid(s["ffn"]), 1), GEMV_WARPS * 32)

        run(0)
        self.d.sync()
        y = rms_scaled(x, g, self.eps)
        a, b = y @ g64.T, y @ u64.T
        ref = a / (1 + np.exp(-a)) * b
        err = rel_err(self.d.get(out, (n, s["ffn"]), np.float32), ref)
        ms = self.d.time_ms(run, self.reps)
        self.record(f"gate_up {s['ffn']}x{s['dim']} x2 n={n}", 4 * s["ffn"] * s["dim"] + n * s["dim"] * 4 + n * s["ffn"] * 4, ms, err, 1e-5)

    def rope_tables(self, positions):
        half = self.s["head_dim"] // 2
        inv = 10000.0 ** (-np.arange(half, dtype=np.float64) * 2 / self.s["head_dim"])
        ang = np.arange(positions, dtype=np.float64)[:, None] * inv[None, :]
        return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)

    @staticmethod
    def table(kv_addr, capacity, positions):
        t = np.zeros(len(positions), dtype=[("kv", "<u8"), ("cap", "<i4"), ("pos", "<i4")])
        t["kv"], t["cap"], t["pos"] = kv_addr, capacity, positions
        return t

    def qkv(self, n):
        s = self.s
        dim, hd, heads, kvh = s["dim"], s["head_dim"], s["heads"], s["kv_heads"]
        qdim, kvdim, half = heads * hd, kvh * hd, hd // 2
        nbytes = (qdim + 2 * kvdim) * dim * 2
        c = self.copies(nbytes)
        wq, q64, qc = self.weights(qdim, dim, c)
        wk, k64, kc = self.weights(kvdim, dim, c)
        wv, v64, vc = self.weights(kvdim, dim, c)
        x = self.rng.standard_normal((n, dim), dtype=np.float32)
        g = (1 + 0.1 * self.rng.standard_normal(dim)).astype(np.float32)
        positions = np.arange(n) + 37
        cos, sin = self.rope_tables(int(positions.max()) + 1)
        capacity = int(positions.max()) + 1
        cache = self.d.alloc(2 * capacity * kvdim * 2)
        self.d.call("cuMemsetD8_v2", ctypes.c_uint64(cache), ctypes.c_ubyte(0xFF), ctypes.c_size_t(2 * capacity * kvdim * 2))  # BF16 NaNs
        tab = self.d.put(self.table(cache, capacity, positions))
        xd, gd, cd, sd, qout = self.d.put(x), self.d.put(g), self.d.put(cos), self.d.put(sin), self.d.alloc(n * qdim * 4)
        self.d.poison(qout, n * qdim)
        units = (qdim + 2 * kvdim) // 2

        def run(r):
            i = r % c
            self.d.launch(self.k["qkv_bf16"], [qout, qc[i], kc[i], vc[i], xd, gd, self.eps, 0, 0, 0, cd, sd, tab, 0, dim, heads, kvh, hd, n, 1],
                          (self.gemv_grid(units), 1), GEMV_WARPS * 32)

        run(0)
        self.d.sync()
        y = rms_scaled(x, g, self.eps)

        def rotate(m, hcount):
            m = m.reshape(n, hcount, hd).copy()
            c64, s64 = cos[positions].astype(np.float64)[:, None, :], sin[positions].astype(np.float64)[:, None, :]
            a, b = m[..., :half].copy(), m[..., half:].copy()
            m[..., :half], m[..., half:] = a * c64 - b * s64, b * c64 + a * s64
            return m.reshape(n, hcount * hd)

        q_ref, k_ref, v_ref = rotate(y @ q64.T, heads), rotate(y @ k64.T, kvh), y @ v64.T
        kv = bf16_value(self.d.get(cache, (2, capacity, kvdim), np.uint16)).astype(np.float64)
        err_q = rel_err(self.d.get(qout, (n, qdim), np.float32), q_ref)
        # Against the reference rounded to BF16: what differs is a neighbouring BF16 value where the
        # F32 result sits near a rounding boundary (one step, 2^-8 of that element).
        rounded = lambda m: bf16_value(bf16_bits(m.astype(np.float32))).astype(np.float64)
        err_kv = max(rel_err(kv[0, positions], rounded(k_ref)), rel_err(kv[1, positions], rounded(v_ref)))
        ms = self.d.time_ms(run, self.reps)
        self.record(f"qkv (q) {qdim}+2x{kvdim} x {dim} n={n}", nbytes + n * dim * 4 + n * (qdim * 4 + 2 * kvdim * 2), ms, err_q, 1e-5)
        self.record(f"qkv (K, V cached as BF16) n={n}", 0, ms, err_kv, 2.0 ** -8)
        self.rows[-1]["us"] = float("nan")

    def attention(self, context, n=1):
        s = self.s
        hd, heads, kvh = s["head_dim"], s["heads"], s["kv_heads"]
        kvdim, group = kvh * hd, heads // kvh
        hpb = min(group, ATTN_MAX_HEADS, ATTN_MAX_DIMS // hd)
        chunks = -(-group // hpb)
        positions = np.arange(context - n, context)
        cache_bytes = 2 * context * kvdim * 2
        c = self.copies(cache_bytes)
        kv_bits = bf16_bits(self.rng.standard_normal((2, context, kvdim), dtype=np.float32))
        caches = [self.d.put(kv_bits) for _ in range(c)]
        tables = [self.d.put(self.table(cache, context, positions)) for cache in caches]
        q = self.rng.standard_normal((n, heads, hd), dtype=np.float32)
        qd, out = self.d.put(q), self.d.alloc(n * heads * hd * 4)
        blocks = kvh * chunks * n
        splits = max(1, min(-(-2 * self.d.sms // blocks), -(-context // ATTN_TILE)))
        partial = self.d.alloc(n * heads * splits * (hd + 2) * 4)
        tickets = self.d.alloc(n * kvh * chunks * 4)
        self.d.call("cuMemsetD32_v2", ctypes.c_uint64(tickets), ctypes.c_uint(0), ctypes.c_size_t(n * kvh * chunks))
        self.d.poison(out, n * heads * hd)
        scale = 1 / math.sqrt(hd)

        def run(r):
            self.d.launch(self.k["attention"], [out, qd, tables[r % c], partial, tickets, 0, heads, kvh, hd, hpb, splits, scale, 1],
                          (kvh * chunks * splits, n), ATTN_THREADS)

        run(0)
        self.d.sync()
        kv = bf16_value(kv_bits).astype(np.float64)
        ref = np.empty((n, heads, hd))
        for t, pos in enumerate(positions):
            for h in range(heads):
                g = h // group
                k, v = kv[0, : pos + 1, g * hd:(g + 1) * hd], kv[1, : pos + 1, g * hd:(g + 1) * hd]
                sc = k @ q[t, h].astype(np.float64) * scale
                p = np.exp(sc - sc.max())
                ref[t, h] = p @ v / p.sum()
        err = rel_err(self.d.get(out, (n, heads, hd), np.float32), ref)
        ms = self.d.time_ms(run, self.reps)
        self.record(f"attention ctx {context} n={n} ({splits} splits)", n * cache_bytes, ms, err, 1e-5)

    def layer(self, context):
        """The five launches of a decode layer, over `layers` distinct layers' weights: the sum a token pays per layer."""
        s = self.s
        dim, hd, heads, kvh, ffn = s["dim"], s["head_dim"], s["heads"], s["kv_heads"], s["ffn"]
        qdim, kvdim = heads * hd, kvh * hd
        group = heads // kvh
        hpb = min(group, ATTN_MAX_HEADS, ATTN_MAX_DIMS // hd)
        chunks = -(-group // hpb)
        layers = s["layers"]
        w = {}
        for name, (r, c) in dict(wq=(qdim, dim), wk=(kvdim, dim), wv=(kvdim, dim), wo=(dim, qdim), gate=(ffn, dim), up=(ffn, dim),
                                 down=(dim, ffn)).items():
            w[name] = [self.d.put(bf16_bits(self.rng.standard_normal((r, c), dtype=np.float32) / math.sqrt(c))) for _ in range(layers)]
        g = self.d.put((1 + 0.1 * self.rng.standard_normal(dim)).astype(np.float32))
        cos, sin = self.rope_tables(context)
        cd, sd = self.d.put(cos), self.d.put(sin)
        cache = self.d.put(bf16_bits(self.rng.standard_normal((layers, 2, context, kvdim), dtype=np.float32) * 0.5))
        tab = self.d.put(self.table(cache, context, [context - 1]))
        x = self.d.put(self.rng.standard_normal((1, dim), dtype=np.float32))
        q, att, hb = self.d.alloc(qdim * 4), self.d.alloc(qdim * 4), self.d.alloc(ffn * 4)
        splits = max(1, min(-(-2 * self.d.sms // (kvh * chunks)), -(-context // ATTN_TILE)))
        partial, tickets = self.d.alloc(heads * splits * (hd + 2) * 4), self.d.alloc(kvh * chunks * 4)
        self.d.call("cuMemsetD32_v2", ctypes.c_uint64(tickets), ctypes.c_uint(0), ctypes.c_size_t(kvh * chunks))
        grid = self.gemv_grid

        def run(r):
            for l in range(layers):
                self.d.launch(self.k["qkv_bf16"], [q, w["wq"][l], w["wk"][l], w["wv"][l], x, g, self.eps, 0, 0, 0, cd, sd, tab, l, dim, heads, kvh, hd,
                                                   1, 1], (grid((qdim + 2 * kvdim) // 2), 1), GEMV_WARPS * 32)
                self.d.launch(self.k["attention"], [att, q, tab, partial, tickets, l, heads, kvh, hd, hpb, splits, 1 / math.sqrt(hd), 1],
                              (kvh * chunks * splits, 1), ATTN_THREADS)
                self.d.launch(self.k["gemv_bf16"], [x, w["wo"][l], att, 0, 0.0, dim, qdim, 1, dim, 1], (grid(dim), 1), GEMV_WARPS * 32)
                self.d.launch(self.k["gate_up_bf16"], [hb, w["gate"][l], w["up"][l], x, g, self.eps, ffn, dim, 1], (grid(ffn), 1), GEMV_WARPS * 32)
                self.d.launch(self.k["gemv_bf16"], [x, w["down"][l], hb, 0, 0.0, dim, ffn, 1, dim, 1], (grid(dim), 1), GEMV_WARPS * 32)

        run(0)
        self.d.sync()
        out = self.d.get(x, (dim,), np.float32)
        ms = self.d.time_ms(run, max(1, self.reps // 5)) / layers
        weight_bytes = (qdim * dim + 2 * kvdim * dim + dim * qdim + 3 * ffn * dim) * 2
        self.record(f"decode layer (5 launches) ctx {context}", weight_bytes + 2 * context * kvdim * 2, ms, 0.0 if np.all(np.isfinite(out)) else float("inf"), 0.0)
        return ms, weight_bytes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", default="libcuda.so.1", help="the CUDA driver library (default: the system's)")
    ap.add_argument("--modules", required=True, help="directory with matmul/qkv/attention .cubin or .ptx")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="8b")
    ap.add_argument("--reps", type=int, help="timed repetitions per check (default per shape)")
    ap.add_argument("--out", help="directory for kernel_check.json")
    args = ap.parse_args()
    shape = SHAPES[args.shape]
    d = Driver(args.lib)
    try:
        check = Check(shape, args.modules, d, args.reps or shape["reps"])
        check.ceiling = d.copy_bandwidth(1 << 30 if args.shape == "8b" else 1 << 16, check.reps)
        print(f"{d.name}, {d.sms} SMs; device-to-device copy {check.ceiling / 1e9:.0f} GB/s (read + written): the ceiling below", flush=True)
        s = shape
        qdim, kvdim = s["heads"] * s["head_dim"], s["kv_heads"] * s["head_dim"]
        for n in (1, 4):
            check.gemv("Wq", qdim, s["dim"], n, norm=True)
            check.gemv("Wk", kvdim, s["dim"], n, norm=False)
            check.gemv("Wdown", s["dim"], s["ffn"], n, norm=False)
        check.gemv("LM head", s["vocab"], s["dim"], 1, norm=True)
        for n in (1, 4):
            check.qkv(n)
            check.gate_up(n)
        prefill = 256 if args.shape == "8b" else 40
        for tensor in (True, False):
            check.gemm("Wq", qdim, s["dim"], prefill, tensor)
            check.gemm("Wdown", s["dim"], s["ffn"], prefill, tensor)
        for ctx in s["contexts"]:
            check.attention(ctx, 1)
        check.attention(s["contexts"][-1], 4)
        layer_ms, weight_bytes = check.layer(s["contexts"][1] if len(s["contexts"]) > 1 else s["contexts"][0])
        lm_row = next(r for r in check.rows if r["check"].startswith("gemv LM head"))
        token_ms = 32 * layer_ms + lm_row["us"] / 1e3
        print(f"\nprojection, not a measurement of the runtime: 32 such layers + the LM head = {token_ms:.3f} ms per token, "
              f"{1e3 / token_ms:.0f} tokens/s at batch 1 (weights {32 * weight_bytes / 1e9:.1f} GB + LM head)")
    finally:
        d.close()
    print("\n| check | MB | us | GB/s | of copy bandwidth | rel. error |")
    print("|---|---|---|---|---|---|")
    for r in check.rows:
        print(f"| {r['check']} | {r['bytes'] / 1e6:.1f} | {r['us']:.1f} | {r['gb_per_s']:.0f} | {r['of_copy_bandwidth']:.1%} | {r['rel_err']:.1e}{'' if r['ok'] else ' WRONG'} |")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "kernel_check.json"), "w") as f:
            json.dump(dict(device=d.name, sms=d.sms, copy_bandwidth=check.ceiling, shape=args.shape, rows=check.rows), f, indent=1)
    if check.failed:
        print("WRONG results: " + ", ".join(check.failed))
        return 1
    print("all results within their bounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
