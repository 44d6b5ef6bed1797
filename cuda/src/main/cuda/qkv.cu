// The attention block's input for decode and verification rows (n <= PPSD_GEMV_MAX_TOKENS), in one
// launch: y = RMSNorm(x) * norm; q, k, v = Wq y, Wk y, Wv y (+ biases, Qwen2); rotary embedding of
// q and k at each row's position; k and v written straight into the row's KV cache (F32 or BF16),
// q into the q buffer. The same steps as the unfused path (rmsnorm, GEMV, add_bias, rope_kv_append),
// so both give the same values up to summation order.
#include "ppsd_device.cuh"


// A unit of work is a rotation pair: dimensions i and i + head_dim/2 of one head of q, k or v
// (v is not rotated, but pairs the same way so every warp does the same work). One warp per unit,
// grid-stride. The rows' positions and caches come from `table` (one PpsdRowSlot per row).
template <typename W>
__device__ __forceinline__ void qkv_rows(float* q, const typename W::T* __restrict__ wq, const typename W::T* __restrict__ wk,
                                         const typename W::T* __restrict__ wv, const float* __restrict__ x, const float* __restrict__ norm,
                                         float eps, const float* q_bias, const float* k_bias, const float* v_bias,
                                         const float* __restrict__ cos_table, const float* __restrict__ sin_table,
                                         const PpsdRowSlot* __restrict__ table, int layer, int dim, int heads, int kv_heads,
                                         int head_dim, int n, int kv_bf16) {
    __shared__ float inv[PPSD_GEMV_MAX_TOKENS];
    __shared__ float scratch[32];
    ppsd_rms_scales(x, dim, n, eps, inv, scratch);
    int lane = threadIdx.x % PPSD_WARP;
    int half = head_dim / 2, q_units = heads * half, kv_units = kv_heads * half, kv_dim = kv_heads * head_dim;
    int units = q_units + 2 * kv_units;
    for (int u = blockIdx.x * PPSD_GEMV_WARPS + threadIdx.x / PPSD_WARP; u < units; u += gridDim.x * PPSD_GEMV_WARPS) {
        int section = u < q_units ? 0 : (u < q_units + kv_units ? 1 : 2);  // q, k, v
        int p = section == 0 ? u : (section == 1 ? u - q_units : u - q_units - kv_units);
        int i = p % half;
        int r1 = (p / half) * head_dim + i, r2 = r1 + half;
        const typename W::T* w = section == 0 ? wq : (section == 1 ? wk : wv);
        const float* bias = section == 0 ? q_bias : (section == 1 ? k_bias : v_bias);
        const typename W::T* pair[2] = {w + (long long) r1 * dim, w + (long long) r2 * dim};
        float acc[2][PPSD_GEMV_MAX_TOKENS];
#pragma unroll
        for (int t = 0; t < PPSD_GEMV_MAX_TOKENS; t++) acc[0][t] = acc[1][t] = 0.0f;
        ppsd_rows_dot<W, 2>(pair, x, norm, dim, n, acc);
#pragma unroll
        for (int t = 0; t < PPSD_GEMV_MAX_TOKENS; t++) {
            if (t < n) {
                float a = ppsd_warp_sum(acc[0][t]) * inv[t];
                float b = ppsd_warp_sum(acc[1][t]) * inv[t];
                if (lane == 0) {
                    if (bias != nullptr) {
                        a += bias[r1];
                        b += bias[r2];
                    }
                    PpsdRowSlot slot = table[t];
                    if (section < 2) {
                        float c = cos_table[(long long) slot.pos * half + i], s = sin_table[(long long) slot.pos * half + i];
                        float ra = a * c - b * s, rb = b * c + a * s;
                        a = ra;
                        b = rb;
                    }
                    if (section == 0) {
                        float* row = q + (long long) t * heads * head_dim;
                        row[r1] = a;
                        row[r2] = b;
                    } else {
                        long long e = ppsd_kv_offset(slot, layer, section == 2, slot.pos, kv_dim);
                        ppsd_kv_store(slot, e + r1, kv_bf16, a);
                        ppsd_kv_store(slot, e + r2, kv_bf16, b);
                    }
                }
            }
        }
    }
}

PPSD_KERNEL void qkv_f32(float* q, const float* wq, const float* wk, const float* wv, const float* x, const float* norm, float eps,
                        const float* q_bias, const float* k_bias, const float* v_bias, const float* cos_table, const float* sin_table,
                        const PpsdRowSlot* table, int layer, int dim, int heads, int kv_heads, int head_dim, int n, int kv_bf16) {
    qkv_rows<WeightF32>(q, wq, wk, wv, x, norm, eps, q_bias, k_bias, v_bias, cos_table, sin_table, table, layer, dim, heads, kv_heads,
                  head_dim, n, kv_bf16);
}

PPSD_KERNEL void qkv_f16(float* q, const unsigned short* wq, const unsigned short* wk, const unsigned short* wv, const float* x, const float* norm, float eps,
                        const float* q_bias, const float* k_bias, const float* v_bias, const float* cos_table, const float* sin_table,
                        const PpsdRowSlot* table, int layer, int dim, int heads, int kv_heads, int head_dim, int n, int kv_bf16) {
    qkv_rows<WeightF16>(q, wq, wk, wv, x, norm, eps, q_bias, k_bias, v_bias, cos_table, sin_table, table, layer, dim, heads, kv_heads,
                  head_dim, n, kv_bf16);
}

PPSD_KERNEL void qkv_bf16(float* q, const unsigned short* wq, const unsigned short* wk, const unsigned short* wv, const float* x, const float* norm, float eps,
                        const float* q_bias, const float* k_bias, const float* v_bias, const float* cos_table, const float* sin_table,
                        const PpsdRowSlot* table, int layer, int dim, int heads, int kv_heads, int head_dim, int n, int kv_bf16) {
    qkv_rows<WeightBF16>(q, wq, wk, wv, x, norm, eps, q_bias, k_bias, v_bias, cos_table, sin_table, table, layer, dim, heads, kv_heads,
                  head_dim, n, kv_bf16);
}
