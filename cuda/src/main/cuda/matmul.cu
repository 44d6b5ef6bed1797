// Matrix products with the weight matrix W (rows x cols, row-major, F32/F16/BF16) and float
// activations X (n x cols): out[t, r] (+)= sum_c W[r, c] * X[t, c], float accumulation.
//   gemv_*:    n <= PPSD_GEMV_MAX_TOKENS (decode and short verification batches). Memory bound: each
//              weight is read once, with 16-byte loads, PPSD_GEMV_UNROLL of them in flight per lane
//              and row, and applied to every token. With `norm` the input is RMSNorm(X) * norm,
//              computed in the same launch (each block derives the rows' scales itself).
//   gate_up_*: the MLP's gate and up projections of RMSNorm(X) in one pass, SwiGLU in the epilogue.
//   gemm_*:    any n (prefill). Shared-memory tiles of 64 rows x 32 tokens x 32 columns.
// `accumulate` != 0 adds into `out` (a fused residual connection); `out_stride` is the distance
// between token rows of `out` (rows of W for a plain product).
#include "ppsd_device.cuh"

// One warp per weight row (grid-stride over rows, so the host can size the grid to whole waves).
// Block: PPSD_GEMV_WARPS warps.
template <typename W>
__device__ __forceinline__ void gemv_rows(float* out, const typename W::T* __restrict__ w, const float* __restrict__ x,
                                          const float* __restrict__ norm, float eps, int rows, int cols, int n,
                                          int out_stride, int accumulate) {
    __shared__ float inv[PPSD_GEMV_MAX_TOKENS];
    __shared__ float scratch[32];
    if (norm != nullptr) ppsd_rms_scales(x, cols, n, eps, inv, scratch);
    int lane = threadIdx.x % PPSD_WARP;
    for (int r = blockIdx.x * PPSD_GEMV_WARPS + threadIdx.x / PPSD_WARP; r < rows; r += gridDim.x * PPSD_GEMV_WARPS) {
        const typename W::T* row[1] = {w + (long long) r * cols};
        float acc[1][PPSD_GEMV_MAX_TOKENS];
#pragma unroll
        for (int t = 0; t < PPSD_GEMV_MAX_TOKENS; t++) acc[0][t] = 0.0f;
        ppsd_rows_dot<W, 1>(row, x, norm, cols, n, acc);
#pragma unroll
        for (int t = 0; t < PPSD_GEMV_MAX_TOKENS; t++) {
            if (t < n) {
                float s = ppsd_warp_sum(acc[0][t]);
                if (norm != nullptr) s *= inv[t];
                if (lane == 0) {
                    float* o = out + (long long) t * out_stride + r;
                    *o = accumulate ? *o + s : s;
                }
            }
        }
    }
}

PPSD_KERNEL void gemv_f32(float* out, const float* w, const float* x, const float* norm, float eps, int rows, int cols, int n,
                          int out_stride, int accumulate) {
    gemv_rows<WeightF32>(out, w, x, norm, eps, rows, cols, n, out_stride, accumulate);
}

PPSD_KERNEL void gemv_f16(float* out, const unsigned short* w, const float* x, const float* norm, float eps, int rows, int cols, int n,
                          int out_stride, int accumulate) {
    gemv_rows<WeightF16>(out, w, x, norm, eps, rows, cols, n, out_stride, accumulate);
}

PPSD_KERNEL void gemv_bf16(float* out, const unsigned short* w, const float* x, const float* norm, float eps, int rows, int cols, int n,
                           int out_stride, int accumulate) {
    gemv_rows<WeightBF16>(out, w, x, norm, eps, rows, cols, n, out_stride, accumulate);
}

// out[t, r] = silu(gate[r] . y_t) * (up[r] . y_t), y_t = RMSNorm(x_t) * norm: the MLP's first
// half for n <= PPSD_GEMV_MAX_TOKENS rows in one launch. One warp per r (both rows).
template <typename W>
__device__ __forceinline__ void gate_up_rows(float* out, const typename W::T* __restrict__ gate, const typename W::T* __restrict__ up,
                                             const float* __restrict__ x, const float* __restrict__ norm, float eps,
                                             int rows, int cols, int n) {
    __shared__ float inv[PPSD_GEMV_MAX_TOKENS];
    __shared__ float scratch[32];
    ppsd_rms_scales(x, cols, n, eps, inv, scratch);
    int lane = threadIdx.x % PPSD_WARP;
    for (int r = blockIdx.x * PPSD_GEMV_WARPS + threadIdx.x / PPSD_WARP; r < rows; r += gridDim.x * PPSD_GEMV_WARPS) {
        const typename W::T* pair[2] = {gate + (long long) r * cols, up + (long long) r * cols};
        float acc[2][PPSD_GEMV_MAX_TOKENS];
#pragma unroll
        for (int t = 0; t < PPSD_GEMV_MAX_TOKENS; t++) acc[0][t] = acc[1][t] = 0.0f;
        ppsd_rows_dot<W, 2>(pair, x, norm, cols, n, acc);
#pragma unroll
        for (int t = 0; t < PPSD_GEMV_MAX_TOKENS; t++) {
            if (t < n) {
                float g = ppsd_warp_sum(acc[0][t]) * inv[t];
                float u = ppsd_warp_sum(acc[1][t]) * inv[t];
                if (lane == 0) out[(long long) t * rows + r] = g / (1.0f + expf(-g)) * u;
            }
        }
    }
}

PPSD_KERNEL void gate_up_f32(float* out, const float* gate, const float* up, const float* x, const float* norm, float eps, int rows, int cols, int n) {
    gate_up_rows<WeightF32>(out, gate, up, x, norm, eps, rows, cols, n);
}

PPSD_KERNEL void gate_up_f16(float* out, const unsigned short* gate, const unsigned short* up, const float* x, const float* norm, float eps,
                             int rows, int cols, int n) {
    gate_up_rows<WeightF16>(out, gate, up, x, norm, eps, rows, cols, n);
}

PPSD_KERNEL void gate_up_bf16(float* out, const unsigned short* gate, const unsigned short* up, const float* x, const float* norm, float eps,
                              int rows, int cols, int n) {
    gate_up_rows<WeightBF16>(out, gate, up, x, norm, eps, rows, cols, n);
}

#define PPSD_TILE_ROWS 64
#define PPSD_TILE_TOKENS 32
#define PPSD_TILE_K 32
#define PPSD_GEMM_THREADS 256

// Block (256 threads) computes a 64-row x 32-token tile of `out`; thread (ty = tid / 16,
// tx = tid % 16) owns rows ty*4 .. ty*4+3 and tokens tx*2, tx*2+1. Per K-step the block stages
// 64 x 32 weights (each thread 8 consecutive elements: one 16-byte load for F16/BF16) and
// 32 x 32 activations (each thread one float4) in shared memory, transposed so that the inner
// loop reads them as broadcasts. Grid: (ceil(rows / 64), ceil(n / 32)).
template <typename W>
__device__ __forceinline__ void gemm_tile(float* out, const typename W::T* w, const float* x, int rows, int cols, int n,
                                          int out_stride, int accumulate) {
    __shared__ float ws[PPSD_TILE_K][PPSD_TILE_ROWS + 1];
    __shared__ float xs[PPSD_TILE_K][PPSD_TILE_TOKENS + 1];
    int tid = threadIdx.x;
    int ty = tid / 16, tx = tid % 16;
    int row0 = blockIdx.x * PPSD_TILE_ROWS, tok0 = blockIdx.y * PPSD_TILE_TOKENS;
    bool vec = (cols & 7) == 0;
    float acc[4][2] = {{0.0f, 0.0f}, {0.0f, 0.0f}, {0.0f, 0.0f}, {0.0f, 0.0f}};

    // Loader coordinates: weights row lr, columns lk..lk+7; activations token xt, columns xk..xk+3.
    int lr = tid / 4, lk = (tid % 4) * 8;
    int xt = tid / 8, xk = (tid % 8) * 4;

    for (int k0 = 0; k0 < cols; k0 += PPSD_TILE_K) {
        int gr = row0 + lr;
        float wv[8];
        if (gr < rows && vec && k0 + lk + 8 <= cols) {
            W::load8(w, (long long) gr * cols + k0 + lk, wv);
        } else {
#pragma unroll
            for (int e = 0; e < 8; e++) {
                int c = k0 + lk + e;
                wv[e] = (gr < rows && c < cols) ? W::at(w, (long long) gr * cols + c) : 0.0f;
            }
        }
#pragma unroll
        for (int e = 0; e < 8; e++) ws[lk + e][lr] = wv[e];

        int gt = tok0 + xt;
        if (gt < n && vec && k0 + xk + 4 <= cols) {
            float4 v = *reinterpret_cast<const float4*>(x + (long long) gt * cols + k0 + xk);
            xs[xk][xt] = v.x; xs[xk + 1][xt] = v.y; xs[xk + 2][xt] = v.z; xs[xk + 3][xt] = v.w;
        } else {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int c = k0 + xk + e;
                xs[xk + e][xt] = (gt < n && c < cols) ? x[(long long) gt * cols + c] : 0.0f;
            }
        }
        __syncthreads();
#pragma unroll 8
        for (int k = 0; k < PPSD_TILE_K; k++) {
            float a0 = ws[k][ty * 4], a1 = ws[k][ty * 4 + 1], a2 = ws[k][ty * 4 + 2], a3 = ws[k][ty * 4 + 3];
            float b0 = xs[k][tx * 2], b1 = xs[k][tx * 2 + 1];
            acc[0][0] += a0 * b0; acc[0][1] += a0 * b1;
            acc[1][0] += a1 * b0; acc[1][1] += a1 * b1;
            acc[2][0] += a2 * b0; acc[2][1] += a2 * b1;
            acc[3][0] += a3 * b0; acc[3][1] += a3 * b1;
        }
        __syncthreads();
    }
#pragma unroll
    for (int j = 0; j < 2; j++) {
        int t = tok0 + tx * 2 + j;
        if (t >= n) continue;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int r = row0 + ty * 4 + i;
            if (r >= rows) continue;
            float* o = out + (long long) t * out_stride + r;
            *o = accumulate ? *o + acc[i][j] : acc[i][j];
        }
    }
}

PPSD_KERNEL void gemm_f32(float* out, const float* w, const float* x, int rows, int cols, int n, int out_stride, int accumulate) {
    gemm_tile<WeightF32>(out, w, x, rows, cols, n, out_stride, accumulate);
}

PPSD_KERNEL void gemm_f16(float* out, const unsigned short* w, const float* x, int rows, int cols, int n, int out_stride, int accumulate) {
    gemm_tile<WeightF16>(out, w, x, rows, cols, n, out_stride, accumulate);
}

PPSD_KERNEL void gemm_bf16(float* out, const unsigned short* w, const float* x, int rows, int cols, int n, int out_stride, int accumulate) {
    gemm_tile<WeightBF16>(out, w, x, rows, cols, n, out_stride, accumulate);
}
