// KV-cache append and causal grouped-query attention over the cache.
// Cache layout per layer: keys and values each max_positions x kv_dim floats, row = position.
#include "ppsd_device.cuh"

#define PPSD_ATTN_WARPS 4
#define PPSD_MAX_HEAD_DIM 256

// Copies n rows of k and v (already rotated) into the cache at positions start_pos .. start_pos+n-1.
PPSD_KERNEL void kv_append(float* key_cache, float* value_cache, const float* k, const float* v, int start_pos, int n, int kv_dim) {
    long long count = (long long) n * kv_dim;
    long long base = (long long) start_pos * kv_dim;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < count; i += (long long) gridDim.x * blockDim.x) {
        key_cache[base + i] = k[i];
        value_cache[base + i] = v[i];
    }
}

// out[t, h, :] = softmax_j(q[t, h, :] . K[j, g(h), :] * scale) V[j, g(h), :] over j in [0, start_pos + t],
// g(h) = h / (heads / kv_heads). Grid (heads, n); block PPSD_ATTN_WARPS warps.
//
// Each warp takes chunks of 32 positions (warp w: chunks w, w + 4, ...); lane j of a chunk scores
// one position with a full dot product, so the warp needs only two reductions per 32 positions.
// The warp keeps a running max / sum / weighted value sum (online softmax); lanes own the head's
// dimensions lane, lane + 32, ... of the output. At the end the warps' partial results are merged
// through shared memory. Head dimensions up to PPSD_MAX_HEAD_DIM (checked on the host).
PPSD_KERNEL void attention(float* out, const float* q, const float* key_cache, const float* value_cache,
                           int start_pos, int heads, int kv_heads, int head_dim, float scale) {
    __shared__ float qs[PPSD_MAX_HEAD_DIM];
    __shared__ float probs[PPSD_ATTN_WARPS][PPSD_WARP];
    __shared__ float warp_max[PPSD_ATTN_WARPS], warp_sum[PPSD_ATTN_WARPS];
    __shared__ float warp_acc[PPSD_ATTN_WARPS][PPSD_MAX_HEAD_DIM];

    int h = blockIdx.x, t = blockIdx.y;
    int lane = threadIdx.x % PPSD_WARP, warp = threadIdx.x / PPSD_WARP;
    int kv_dim = kv_heads * head_dim;
    int kv_off = (h / (heads / kv_heads)) * head_dim;
    int last = start_pos + t;  // causal: this token sees positions 0..last
    const float* qrow = q + ((long long) t * heads + h) * head_dim;
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) qs[d] = qrow[d];
    __syncthreads();

    const int per_lane = PPSD_MAX_HEAD_DIM / PPSD_WARP;
    float acc[per_lane];
#pragma unroll
    for (int i = 0; i < per_lane; i++) acc[i] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    bool vec = (head_dim & 3) == 0 && (kv_dim & 3) == 0;

    int chunks = last / PPSD_WARP + 1;
    for (int chunk = warp; chunk < chunks; chunk += PPSD_ATTN_WARPS) {
        int j = chunk * PPSD_WARP + lane;
        float score = -INFINITY;
        if (j <= last) {
            const float* krow = key_cache + (long long) j * kv_dim + kv_off;
            float s = 0.0f;
            if (vec) {
                for (int d = 0; d < head_dim; d += 4) {
                    float4 kv = *reinterpret_cast<const float4*>(krow + d);
                    s += qs[d] * kv.x + qs[d + 1] * kv.y + qs[d + 2] * kv.z + qs[d + 3] * kv.w;
                }
            } else {
                for (int d = 0; d < head_dim; d++) s += qs[d] * krow[d];
            }
            score = s * scale;
        }
        float chunk_max = ppsd_warp_max(score);
        float m_new = fmaxf(m, chunk_max);
        float p = j <= last ? expf(score - m_new) : 0.0f;
        float correction = expf(m - m_new);  // 0 on the first chunk (m = -inf)
        l = l * correction + ppsd_warp_sum(p);
        m = m_new;
        probs[warp][lane] = p;
        __syncwarp();
        int valid = min(PPSD_WARP, last + 1 - chunk * PPSD_WARP);
#pragma unroll
        for (int i = 0; i < per_lane; i++) {
            int d = lane + i * PPSD_WARP;
            if (d < head_dim) {
                float a = acc[i] * correction;
                const float* vcol = value_cache + (long long) chunk * PPSD_WARP * kv_dim + kv_off + d;
                for (int jj = 0; jj < valid; jj++) a += probs[warp][jj] * vcol[(long long) jj * kv_dim];
                acc[i] = a;
            }
        }
        __syncwarp();
    }

    if (lane == 0) {
        warp_max[warp] = m;
        warp_sum[warp] = l;
    }
#pragma unroll
    for (int i = 0; i < per_lane; i++) {
        int d = lane + i * PPSD_WARP;
        if (d < head_dim) warp_acc[warp][d] = acc[i];
    }
    __syncthreads();
    float total_max = -INFINITY;
#pragma unroll
    for (int w = 0; w < PPSD_ATTN_WARPS; w++) total_max = fmaxf(total_max, warp_max[w]);
    float total = 0.0f;
    float weight[PPSD_ATTN_WARPS];
#pragma unroll
    for (int w = 0; w < PPSD_ATTN_WARPS; w++) {
        // A warp that saw no position has max -inf and contributes nothing.
        weight[w] = warp_max[w] == -INFINITY ? 0.0f : expf(warp_max[w] - total_max);
        total += warp_sum[w] * weight[w];
    }
    float inv = 1.0f / total;
    float* orow = out + ((long long) t * heads + h) * head_dim;
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float o = 0.0f;
#pragma unroll
        for (int w = 0; w < PPSD_ATTN_WARPS; w++) o += warp_acc[w][d] * weight[w];
        orow[d] = o * inv;
    }
}
