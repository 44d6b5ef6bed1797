// What a .cu file needs from the CUDA compiler when it is compiled by g++ for the CPU emulation of
// the driver: the execution-space keywords, the built-in thread coordinates, barriers, warp
// shuffles, atomics and the few device math functions the kernels use. Force-included (-include)
// before each kernel source; the sources themselves are the same ones nvcc compiles.
//
// Semantics: the threads of a block run as cooperative fibers on one OS thread (see
// emu_block_runner.cpp), so a thread only ever stops at __syncthreads, __syncwarp or a shuffle,
// exactly where the CUDA model allows other threads to observe it.
#pragma once

#define PPSD_HOST_EMULATION 1

#include <cmath>
#include <cstdint>
#include <cstring>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
// Block-shared memory: one copy per kernel (function-local static) per OS thread. Blocks of a
// launch run one after another on the launching thread, so each block sees its own copy in turn.
// Not zeroed between blocks, as on a GPU.
#define __shared__ static thread_local

struct uint3 { unsigned int x, y, z; };
struct dim3 { unsigned int x, y, z; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) uint4 { unsigned int x, y, z, w; };
struct alignas(8) uint2 { unsigned int x, y; };
struct alignas(16) int4 { int x, y, z, w; };

namespace ppsd_emu {
extern thread_local uint3 thread_index;
extern thread_local uint3 block_index;
extern thread_local dim3 block_dim;
extern thread_local dim3 grid_dim;

void sync_block();
void sync_warp(unsigned int mask);
// Exchanges 8 bytes with the lanes of the calling warp: returns the value that lane `src` offered,
// or the caller's own value when `src` is outside the warp (as the hardware does).
unsigned long long warp_exchange(unsigned int mask, unsigned long long value, int src);
int lane_id();

template <typename T>
inline T shuffle_from(unsigned int mask, T v, int src) {
    static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
    unsigned long long bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    bits = warp_exchange(mask, bits, src);
    T out;
    std::memcpy(&out, &bits, sizeof(T));
    return out;
}
}  // namespace ppsd_emu

#define threadIdx (::ppsd_emu::thread_index)
#define blockIdx (::ppsd_emu::block_index)
#define blockDim (::ppsd_emu::block_dim)
#define gridDim (::ppsd_emu::grid_dim)
#define warpSize 32

inline void __syncthreads() { ppsd_emu::sync_block(); }
inline void __syncwarp(unsigned int mask = 0xffffffffu) { ppsd_emu::sync_warp(mask); }

// Lanes are grouped in segments of `width` (a power of two <= 32) as in CUDA.
template <typename T>
inline T __shfl_sync(unsigned int mask, T v, int src_lane, int width = 32) {
    int lane = ppsd_emu::lane_id();
    int base = lane & ~(width - 1);
    return ppsd_emu::shuffle_from(mask, v, base + (src_lane & (width - 1)));
}

template <typename T>
inline T __shfl_xor_sync(unsigned int mask, T v, int lane_mask, int width = 32) {
    int lane = ppsd_emu::lane_id();
    int src = lane ^ lane_mask;
    if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane;
    return ppsd_emu::shuffle_from(mask, v, src);
}

template <typename T>
inline T __shfl_down_sync(unsigned int mask, T v, unsigned int delta, int width = 32) {
    int lane = ppsd_emu::lane_id();
    int src = lane + (int) delta;
    if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane;
    return ppsd_emu::shuffle_from(mask, v, src);
}

template <typename T>
inline T __shfl_up_sync(unsigned int mask, T v, unsigned int delta, int width = 32) {
    int lane = ppsd_emu::lane_id();
    int src = lane - (int) delta;
    if (src < 0 || (src & ~(width - 1)) != (lane & ~(width - 1))) src = lane;
    return ppsd_emu::shuffle_from(mask, v, src);
}

// Atomics are real atomics so that the emulator could run blocks on several OS threads.
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline unsigned int atomicAdd(unsigned int* p, unsigned int v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline int atomicMax(int* p, int v) {
    int old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (old < v && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
    return old;
}
inline int atomicCAS(int* p, int expected, int desired) {
    __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return expected;
}
inline float atomicAdd(float* p, float v) {
    float old, next;
    __atomic_load(p, &old, __ATOMIC_RELAXED);
    do { next = old + v; } while (!__atomic_compare_exchange(p, &old, &next, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return old;
}

inline float __uint_as_float(unsigned int u) { float f; std::memcpy(&f, &u, 4); return f; }
inline unsigned int __float_as_uint(float f) { unsigned int u; std::memcpy(&u, &f, 4); return u; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline float __expf(float x) { return expf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __fdividef(float a, float b) { return a / b; }
template <typename T> inline T __ldg(const T* p) { return *p; }
template <typename T> inline T __ldcg(const T* p) { return *p; }
// Blocks run one after another, so every write of an earlier block is visible already; the fence
// still orders this block's own writes before a following atomic, as on the device.
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
