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
#define __align__(n) __attribute__((aligned(n)))
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

// Warp matrix operations (mma.h's nvcuda::wmma), for the 16x16x16 BF16 shape the kernels use.
// Which lane holds which elements is unspecified in CUDA (kernels must not read fragment elements,
// and ours do not), so here lane 0 of the warp holds the whole tile and does the warp's work:
// loads, the multiply-accumulate and the store happen on lane 0, the other lanes' calls do nothing
// (the warp-wide result the API defines, computed once rather than 32 times). BF16 values are
// widened exactly; products and sums in float.
struct __nv_bfloat16 {
    unsigned short bits;
};

namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
    float v[16 * 16];  // element (row, column) of the tile at row * 16 + column
};

inline float widen(__nv_bfloat16 b) {
    unsigned int u = ((unsigned int) b.bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

template <typename Use, int M, int N, int K, typename T, typename Layout>
inline void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, float value) {
    if (ppsd_emu::lane_id() != 0) return;
    for (float& e : f.v) e = value;
}

inline void load_matrix_sync(fragment<matrix_a, 16, 16, 16, __nv_bfloat16, row_major>& a, const __nv_bfloat16* p, unsigned ldm) {
    if (ppsd_emu::lane_id() != 0) return;
    for (int r = 0; r < 16; r++)
        for (int k = 0; k < 16; k++) a.v[r * 16 + k] = widen(p[(long long) r * ldm + k]);
}

inline void load_matrix_sync(fragment<matrix_b, 16, 16, 16, __nv_bfloat16, col_major>& b, const __nv_bfloat16* p, unsigned ldm) {
    if (ppsd_emu::lane_id() != 0) return;
    for (int k = 0; k < 16; k++)
        for (int c = 0; c < 16; c++) b.v[k * 16 + c] = widen(p[(long long) c * ldm + k]);
}

template <typename LA, typename LB, typename LC>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float, LC>& d, const fragment<matrix_a, 16, 16, 16, __nv_bfloat16, LA>& a,
                     const fragment<matrix_b, 16, 16, 16, __nv_bfloat16, LB>& b, const fragment<accumulator, 16, 16, 16, float, LC>& c) {
    if (ppsd_emu::lane_id() != 0) return;
    float out[16 * 16];
    for (int r = 0; r < 16; r++) {
        for (int col = 0; col < 16; col++) {
            float s = c.v[r * 16 + col];
            for (int k = 0; k < 16; k++) s += a.v[r * 16 + k] * b.v[k * 16 + col];
            out[r * 16 + col] = s;
        }
    }
    std::memcpy(d.v, out, sizeof out);
}

template <typename L>
inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float, L>& c, unsigned ldm, layout_t layout) {
    if (ppsd_emu::lane_id() != 0) return;
    for (int r = 0; r < 16; r++)
        for (int col = 0; col < 16; col++) {
            long long at = layout == mem_row_major ? (long long) r * ldm + col : (long long) col * ldm + r;
            p[at] = c.v[r * 16 + col];
        }
}
}  // namespace wmma
}  // namespace nvcuda
