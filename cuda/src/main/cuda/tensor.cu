// Prefill and verification GEMM on tensor cores, for BF16 weights:
//   out[t, r] (+)= sum_c W[r, c] * x[t, c]    (W rows x cols, rows and cols multiples of 16)
// with 16x16x16 warp MMAs (BF16 in, F32 accumulate). The activations are F32, so each is split
// into three BF16 parts, x = hi + mid + lo (8 + 8 + 8 mantissa bits: exact for every normal
// float), and each weight tile is multiplied by all three: every product of a BF16 weight and a
// BF16 part is exact in F32, so the result is the F32 product up to summation order, which keeps
// the CPU comparison's tight bound. Three MMAs per tile still beat SIMT FP32 by a wide margin.
// A block is PPSD_TC_WARPS warps, each 16 weight rows of the same 16 tokens; per step the block
// stages PPSD_TC_K columns of its tokens' activations (split, BF16) in shared memory; weight
// fragments load straight from global memory (rows are 16-byte aligned: cols % 16 == 0).
// Grid: (ceil(rows / (16 * PPSD_TC_WARPS)), ceil(n / 16)).
#include "ppsd_device.cuh"
#if !defined(PPSD_HOST_EMULATION)
#include <cuda_bf16.h>
#include <mma.h>
#endif

#define PPSD_TC_WARPS 4
#define PPSD_TC_K 64

PPSD_KERNEL void gemm_tc_bf16(float* out, const unsigned short* w, const float* x, int rows, int cols, int n, int out_stride, int accumulate) {
    using namespace nvcuda;
    __shared__ __align__(32) unsigned short parts[3][16 * PPSD_TC_K];  // [hi | mid | lo][token][column]
    __shared__ __align__(32) float tile[PPSD_TC_WARPS][16 * 16];
    int warp = threadIdx.x / PPSD_WARP, lane = threadIdx.x % PPSD_WARP;
    int row0 = (blockIdx.x * PPSD_TC_WARPS + warp) * 16, tok0 = blockIdx.y * 16;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.0f);
    for (int k0 = 0; k0 < cols; k0 += PPSD_TC_K) {
        int width = min(PPSD_TC_K, cols - k0);  // a multiple of 16
        __syncthreads();  // the previous step's MMAs are done with `parts`
        for (int i = threadIdx.x; i < 16 * PPSD_TC_K; i += blockDim.x) {
            int t = i / PPSD_TC_K, k = i % PPSD_TC_K;
            float v = tok0 + t < n && k < width ? x[(long long) (tok0 + t) * cols + k0 + k] : 0.0f;
            unsigned short hi = ppsd_float_to_bf16(v);
            float rest = v - ppsd_bf16_to_float(hi);
            unsigned short mid = ppsd_float_to_bf16(rest);
            parts[0][i] = hi;
            parts[1][i] = mid;
            parts[2][i] = ppsd_float_to_bf16(rest - ppsd_bf16_to_float(mid));
        }
        __syncthreads();
        if (row0 < rows) {  // whole warps: row0 is uniform within a warp
            for (int kk = 0; kk < width; kk += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
                wmma::load_matrix_sync(a, reinterpret_cast<const __nv_bfloat16*>(w + (long long) row0 * cols + k0 + kk), cols);
#pragma unroll
                for (int p = 0; p < 3; p++) {
                    // B (columns x tokens) is the staged activations read column-major: token t's column k at t * PPSD_TC_K + k.
                    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> b;
                    wmma::load_matrix_sync(b, reinterpret_cast<const __nv_bfloat16*>(parts[p] + kk), PPSD_TC_K);
                    wmma::mma_sync(acc, a, b, acc);
                }
            }
        }
    }
    if (row0 >= rows) return;
    // Through shared memory, so that tokens past n are not written and the residual add reads out.
    wmma::store_matrix_sync(tile[warp], acc, 16, wmma::mem_col_major);  // element (row r, token t) at t * 16 + r
    __syncwarp();
    for (int e = lane; e < 256; e += PPSD_WARP) {
        int t = e / 16, r = e % 16;
        if (tok0 + t < n && row0 + r < rows) {
            float* o = out + (long long) (tok0 + t) * out_stride + row0 + r;
            *o = accumulate ? *o + tile[warp][e] : tile[warp][e];
        }
    }
}
