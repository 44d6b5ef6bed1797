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
