// Shared device helpers of the ppsd kernels: weight loading for F32/F16/BF16, warp and block
// reductions. Included by every .cu file; compiled by nvcc, by NVRTC at run time, and (tests only)
// by g++ for the CPU emulation of the driver, which defines PPSD_HOST_EMULATION and supplies
// __global__, threadIdx, __shfl_xor_sync and friends itself.
#pragma once

// Entry points are plain C names so that cuModuleGetFunction finds them without C++ mangling.
#define PPSD_KERNEL extern "C" __global__

#define PPSD_WARP 32
#define PPSD_FULL_MASK 0xffffffffu

// Half-precision weights travel as raw 16-bit patterns: the kernels only ever widen them to float,
// so no half arithmetic (and no cuda_fp16.h, which NVRTC and the host emulation would both need) is
// involved. Both widenings are exact, so every backend sees the same weight values.
__device__ __forceinline__ float ppsd_bf16_to_float(unsigned short b) {
    return __uint_as_float(((unsigned int) b) << 16);
}

__device__ __forceinline__ float ppsd_f16_to_float(unsigned short h) {
#if defined(__CUDA_ARCH__)
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
#else
    // IEEE binary16 -> binary32 by bit manipulation (host emulation only).
    unsigned int sign = ((unsigned int) h & 0x8000u) << 16;
    unsigned int exp = ((unsigned int) h >> 10) & 0x1fu;
    unsigned int man = (unsigned int) h & 0x3ffu;
    unsigned int bits;
    if (exp == 0x1fu) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {
        // Subnormal half: normalise the mantissa.
        int e = -1;
        do { man <<= 1; e++; } while ((man & 0x400u) == 0);
        bits = sign | ((unsigned int) (112 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    return __uint_as_float(bits);
#endif
}

// A weight element type: at() reads one element as float, load8() eight consecutive elements from
// a 16-byte aligned address (the caller guarantees alignment: row length a multiple of 8).
struct WeightF32 {
    typedef float T;
    static __device__ __forceinline__ float at(const float* w, long long i) { return w[i]; }
    static __device__ __forceinline__ void load8(const float* w, long long i, float* out) {
        float4 a = *reinterpret_cast<const float4*>(w + i);
        float4 b = *reinterpret_cast<const float4*>(w + i + 4);
        out[0] = a.x; out[1] = a.y; out[2] = a.z; out[3] = a.w;
        out[4] = b.x; out[5] = b.y; out[6] = b.z; out[7] = b.w;
    }
};

struct WeightBF16 {
    typedef unsigned short T;
    static __device__ __forceinline__ float at(const unsigned short* w, long long i) { return ppsd_bf16_to_float(w[i]); }
    static __device__ __forceinline__ void load8(const unsigned short* w, long long i, float* out) {
        uint4 u = *reinterpret_cast<const uint4*>(w + i);
        unsigned int words[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int k = 0; k < 4; k++) {
            out[2 * k] = __uint_as_float(words[k] << 16);
            out[2 * k + 1] = __uint_as_float(words[k] & 0xffff0000u);
        }
    }
};

struct WeightF16 {
    typedef unsigned short T;
    static __device__ __forceinline__ float at(const unsigned short* w, long long i) { return ppsd_f16_to_float(w[i]); }
    static __device__ __forceinline__ void load8(const unsigned short* w, long long i, float* out) {
        uint4 u = *reinterpret_cast<const uint4*>(w + i);
        unsigned int words[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int k = 0; k < 4; k++) {
            out[2 * k] = ppsd_f16_to_float((unsigned short) (words[k] & 0xffffu));
            out[2 * k + 1] = ppsd_f16_to_float((unsigned short) (words[k] >> 16));
        }
    }
};

__device__ __forceinline__ float ppsd_warp_sum(float v) {
#pragma unroll
    for (int offset = PPSD_WARP / 2; offset > 0; offset >>= 1) v += __shfl_xor_sync(PPSD_FULL_MASK, v, offset);
    return v;
}

__device__ __forceinline__ float ppsd_warp_max(float v) {
#pragma unroll
    for (int offset = PPSD_WARP / 2; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(PPSD_FULL_MASK, v, offset));
    return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
// `scratch` is 32 floats of shared memory; the trailing barrier makes it reusable right away.
__device__ __forceinline__ float ppsd_block_sum(float v, float* scratch) {
    int lane = threadIdx.x % PPSD_WARP, warp = threadIdx.x / PPSD_WARP;
    int warps = blockDim.x / PPSD_WARP;
    v = ppsd_warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0f;
    v = ppsd_warp_sum(v);
    __syncthreads();
    return v;
}

// float -> bf16 bit pattern, rounding to nearest even (NaN stays a quiet NaN). The CPU backend's
// KV rounding (CpuForward) is the same function, so both see the same cached keys and values.
__device__ __forceinline__ unsigned short ppsd_float_to_bf16(float f) {
    unsigned int u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short) ((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (unsigned short) (u >> 16);
}

// One row of a compute call, as the kernels that need positions or KV caches see it (uploaded
// with the rows' hidden states, once per call): the sequence's cache storage, laid out
// [layer][keys | values][capacity positions][kv_dim elements] of 4 (F32) or 2 (BF16) bytes, and
// the row's position.
struct PpsdRowSlot {
    unsigned long long kv;
    int capacity;
    int pos;
};

// Element offset of (layer, keys or values, position) in a row's cache; times the element size.
__device__ __forceinline__ long long ppsd_kv_offset(const PpsdRowSlot& slot, int layer, int values, int pos, int kv_dim) {
    return ((long long) (2 * layer + values) * slot.capacity + pos) * kv_dim;
}

__device__ __forceinline__ void ppsd_kv_store(const PpsdRowSlot& slot, long long element, int kv_bf16, float value) {
    if (kv_bf16) reinterpret_cast<unsigned short*>(slot.kv)[element] = ppsd_float_to_bf16(value);
    else reinterpret_cast<float*>(slot.kv)[element] = value;
}

// 1 / sqrt(mean(x_t^2) + eps) for the n rows of x (dim floats each) into inv[0..n): the RMSNorm
// scale, computed by each block that fuses the norm into its projection (x is a few KB per row
// and is read from L2). inv is shared memory; all threads see it on return.
__device__ __forceinline__ void ppsd_rms_scales(const float* x, int dim, int n, float eps, float* inv, float* scratch) {
    for (int t = 0; t < n; t++) {
        const float* row = x + (long long) t * dim;
        float ss = 0.0f;
        for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += row[i] * row[i];
        ss = ppsd_block_sum(ss, scratch);
        if (threadIdx.x == 0) inv[t] = 1.0f / sqrtf(ss / (float) dim + eps);
    }
    __syncthreads();
}

// The GEMV core, shared by matmul.cu and qkv.cu (each NVRTC module is one source plus this header).
#define PPSD_GEMV_MAX_TOKENS 8
#define PPSD_GEMV_WARPS 8
#define PPSD_GEMV_UNROLL 4

// acc[j][t] += sum over this lane's columns c of W_j[c] * x_t[c] * (norm ? norm[c] : 1), for the
// J weight rows `rows[j]` of one warp. The lane's columns: chunks of 8 at lane * 8 + k * 256.
// All J x PPSD_GEMV_UNROLL weight loads of a step are issued before any is used, so that many
// 16-byte loads are in flight per lane (what keeps HBM busy at batch 1).
template <typename W, int J>
__device__ __forceinline__ void ppsd_rows_dot(const typename W::T* const* rows, const float* __restrict__ x,
                                              const float* __restrict__ norm, int cols, int n,
                                              float acc[J][PPSD_GEMV_MAX_TOKENS]) {
    int lane = threadIdx.x % PPSD_WARP;
    if ((cols & 7) == 0) {
        const int step = PPSD_WARP * 8;
        for (int c0 = lane * 8; c0 < cols; c0 += step * PPSD_GEMV_UNROLL) {
            float wv[J][PPSD_GEMV_UNROLL][8];
#pragma unroll
            for (int u = 0; u < PPSD_GEMV_UNROLL; u++) {
                int c = c0 + u * step;
#pragma unroll
                for (int j = 0; j < J; j++) {
                    if (c < cols) {
                        W::load8(rows[j], c, wv[j][u]);
                    } else {
#pragma unroll
                        for (int e = 0; e < 8; e++) wv[j][u][e] = 0.0f;
                    }
                }
            }
#pragma unroll
            for (int u = 0; u < PPSD_GEMV_UNROLL; u++) {
                int c = c0 + u * step;
                if (c >= cols) break;
                float g[8];
                if (norm != nullptr) {
                    float4 a = *reinterpret_cast<const float4*>(norm + c), b = *reinterpret_cast<const float4*>(norm + c + 4);
                    g[0] = a.x; g[1] = a.y; g[2] = a.z; g[3] = a.w; g[4] = b.x; g[5] = b.y; g[6] = b.z; g[7] = b.w;
                } else {
#pragma unroll
                    for (int e = 0; e < 8; e++) g[e] = 1.0f;
                }
#pragma unroll
                for (int t = 0; t < PPSD_GEMV_MAX_TOKENS; t++) {
                    if (t < n) {
                        const float4* xv = reinterpret_cast<const float4*>(x + (long long) t * cols + c);
                        float4 a = xv[0], b = xv[1];
                        float xs[8] = {a.x * g[0], a.y * g[1], a.z * g[2], a.w * g[3], b.x * g[4], b.y * g[5], b.z * g[6], b.w * g[7]};
#pragma unroll
                        for (int j = 0; j < J; j++) {
                            float s = acc[j][t];
#pragma unroll
                            for (int e = 0; e < 8; e++) s += wv[j][u][e] * xs[e];
                            acc[j][t] = s;
                        }
                    }
                }
            }
        }
    } else {
        for (int c = lane; c < cols; c += PPSD_WARP) {
            float g = norm != nullptr ? norm[c] : 1.0f;
            float wc[J];
#pragma unroll
            for (int j = 0; j < J; j++) wc[j] = W::at(rows[j], c);
#pragma unroll
            for (int t = 0; t < PPSD_GEMV_MAX_TOKENS; t++) {
                if (t < n) {
                    float xc = x[(long long) t * cols + c] * g;
#pragma unroll
                    for (int j = 0; j < J; j++) acc[j][t] += wc[j] * xc;
                }
            }
        }
    }
}

