// Rotary embedding + KV-cache append (the unfused path: prefill, Qwen3), and causal grouped-query
// attention over the cache, split over positions ("flash-decoding").
// Each row's cache and position come from its PpsdRowSlot (ppsd_device.cuh); cached keys and
// values are F32 or BF16 (kv_bf16), always accumulated in F32.
#include "ppsd_device.cuh"

#define PPSD_ATTN_WARPS 4
#define PPSD_MAX_HEAD_DIM 256
// Query heads a block serves (all of one KV head's group, or a chunk of it) and their dimensions.
#define PPSD_ATTN_MAX_HEADS 8
#define PPSD_ATTN_MAX_DIMS 1024

// Rotary embedding, Hugging Face "rotate_half" convention (element i of a head pairs with
// i + head_dim/2; angle tables positions x head_dim/2, computed on the host as the CPU backend
// does): q rotated in place, k rotated into the cache, v copied into it. q: n x heads x head_dim,
// k and v: n x kv_heads x head_dim. Grid (n), block-stride over the pairs.
PPSD_KERNEL void rope_kv_append(float* q, const float* k, const float* v, const float* cos_table, const float* sin_table,
                                const PpsdRowSlot* table, int layer, int heads, int kv_heads, int head_dim, int kv_bf16) {
    int t = blockIdx.x, half = head_dim / 2, kv_dim = kv_heads * head_dim;
    PpsdRowSlot slot = table[t];
    const float* c = cos_table + (long long) slot.pos * half;
    const float* s = sin_table + (long long) slot.pos * half;
    long long keys = ppsd_kv_offset(slot, layer, 0, slot.pos, kv_dim), values = ppsd_kv_offset(slot, layer, 1, slot.pos, kv_dim);
    int q_pairs = heads * half, kv_pairs = kv_heads * half;
    for (int p = threadIdx.x; p < q_pairs + 2 * kv_pairs; p += blockDim.x) {
        if (p < q_pairs) {
            int i = p % half;
            float* base = q + (long long) t * heads * head_dim + (p / half) * head_dim;
            float a = base[i], b = base[i + half];
            base[i] = a * c[i] - b * s[i];
            base[i + half] = b * c[i] + a * s[i];
        } else if (p < q_pairs + kv_pairs) {
            int pp = p - q_pairs, i = pp % half, d = (pp / half) * head_dim + i;
            const float* row = k + (long long) t * kv_dim;
            float a = row[d], b = row[d + half];
            ppsd_kv_store(slot, keys + d, kv_bf16, a * c[i] - b * s[i]);
            ppsd_kv_store(slot, keys + d + half, kv_bf16, b * c[i] + a * s[i]);
        } else {
            int pp = p - q_pairs - kv_pairs, i = pp % half, d = (pp / half) * head_dim + i;
            const float* row = v + (long long) t * kv_dim;
            ppsd_kv_store(slot, values + d, kv_bf16, row[d]);
            ppsd_kv_store(slot, values + d + half, kv_bf16, row[d + half]);
        }
    }
}

__device__ __forceinline__ float ppsd_kv_load(const PpsdRowSlot& slot, long long element, int kv_bf16) {
    return kv_bf16 ? ppsd_bf16_to_float(reinterpret_cast<const unsigned short*>(slot.kv)[element])
                   : reinterpret_cast<const float*>(slot.kv)[element];
}

// Eight consecutive cached elements from a 16-byte (F32: two 16-byte) aligned element offset.
__device__ __forceinline__ void ppsd_kv_load8(const PpsdRowSlot& slot, long long element, int kv_bf16, float* out) {
    if (kv_bf16) WeightBF16::load8(reinterpret_cast<const unsigned short*>(slot.kv), element, out);
    else WeightF32::load8(reinterpret_cast<const float*>(slot.kv), element, out);
}

// out[t, h, :] = softmax_j(q[t, h, :] . K[j, g(h), :] * scale) V[j, g(h), :] over j in [0, pos_t],
// g(h) = h / (heads / kv_heads).
//
// Grid (kv_heads * chunks * splits, n): a block serves `heads_per_block` query heads of one KV
// head's group (chunk c of it) for row t, over split s of the row's positions 0..pos_t: splits of
// whole 32-position tiles, as even as that allows, computed here from the row's position (so the
// arguments do not change from step to step, and one captured graph serves every decode step;
// splits past the row's context are empty). A decode step of one row still spreads over many SMs:
// the host picks splits to give about two blocks per SM. Each key row is loaded once (16-byte loads) for
// all the block's query heads. Warps take 32-position tiles; lane j scores position j; the warp
// keeps a running max / sum / weighted value sum per head (online softmax). The block merges its
// warps; with one split it writes `out`, otherwise its partial (max, sum, values) to `partial`,
// and the last block of (row, KV head, chunk) to finish (a ticket counter, reset after use) merges
// the splits. Head dimensions up to PPSD_MAX_HEAD_DIM, heads_per_block * head_dim up to
// PPSD_ATTN_MAX_DIMS (both checked on the host).
PPSD_KERNEL void attention(float* out, const float* q, const PpsdRowSlot* table, float* partial, int* tickets, int layer, int heads,
                           int kv_heads, int head_dim, int heads_per_block, int splits, float scale, int kv_bf16) {
    __shared__ float qs[PPSD_ATTN_MAX_DIMS];
    __shared__ float probs[PPSD_ATTN_WARPS][PPSD_ATTN_MAX_HEADS][PPSD_WARP];
    __shared__ float corrections[PPSD_ATTN_WARPS][PPSD_ATTN_MAX_HEADS];
    __shared__ float warp_max[PPSD_ATTN_WARPS][PPSD_ATTN_MAX_HEADS], warp_sum[PPSD_ATTN_WARPS][PPSD_ATTN_MAX_HEADS];
    __shared__ float warp_acc[PPSD_ATTN_WARPS][PPSD_ATTN_MAX_DIMS];
    __shared__ int merges;

    int group = heads / kv_heads, chunks = (group + heads_per_block - 1) / heads_per_block;
    int s = blockIdx.x % splits, c = (blockIdx.x / splits) % chunks, g = blockIdx.x / (splits * chunks), t = blockIdx.y;
    int head0 = g * group + c * heads_per_block;
    int hb = min(heads_per_block, (g + 1) * group - head0), dims = hb * head_dim;
    int lane = threadIdx.x % PPSD_WARP, warp = threadIdx.x / PPSD_WARP;
    int kv_dim = kv_heads * head_dim, kv_off = g * head_dim;
    PpsdRowSlot slot = table[t];
    int tiles = (slot.pos + PPSD_WARP) / PPSD_WARP;                               // tiles holding positions 0..pos
    int split_positions = (tiles + splits - 1) / splits * PPSD_WARP;
    int from = s * split_positions, to = min(from + split_positions, slot.pos + 1);  // causal: positions 0..pos
    long long keys = ppsd_kv_offset(slot, layer, 0, 0, kv_dim) + kv_off, values = ppsd_kv_offset(slot, layer, 1, 0, kv_dim) + kv_off;

    const float* qrow = q + ((long long) t * heads + head0) * head_dim;
    for (int d = threadIdx.x; d < dims; d += blockDim.x) qs[d] = qrow[d];
    __syncthreads();

    const int per_lane = PPSD_ATTN_MAX_DIMS / PPSD_WARP;  // this lane's (head, dim) pairs: e = lane + 32 i
    float acc[per_lane];
#pragma unroll
    for (int i = 0; i < per_lane; i++) acc[i] = 0.0f;
    float m[PPSD_ATTN_MAX_HEADS], l[PPSD_ATTN_MAX_HEADS];
#pragma unroll
    for (int h = 0; h < PPSD_ATTN_MAX_HEADS; h++) {
        m[h] = -INFINITY;
        l[h] = 0.0f;
    }
    bool vec = (head_dim & 7) == 0 && (kv_dim & 7) == 0;

    for (int tile = from + warp * PPSD_WARP; tile < to; tile += PPSD_ATTN_WARPS * PPSD_WARP) {
        int j = tile + lane;
        bool valid = j < to;
        float score[PPSD_ATTN_MAX_HEADS];
#pragma unroll
        for (int h = 0; h < PPSD_ATTN_MAX_HEADS; h++) score[h] = 0.0f;
        if (valid) {
            long long krow = keys + (long long) j * kv_dim;
            if (vec) {
                for (int d = 0; d < head_dim; d += 8) {
                    float kv[8];
                    ppsd_kv_load8(slot, krow + d, kv_bf16, kv);
#pragma unroll
                    for (int h = 0; h < PPSD_ATTN_MAX_HEADS; h++) {
                        if (h < hb) {
                            const float* qh = qs + h * head_dim + d;
                            float sum = score[h];
#pragma unroll
                            for (int e = 0; e < 8; e++) sum += qh[e] * kv[e];
                            score[h] = sum;
                        }
                    }
                }
            } else {
                for (int d = 0; d < head_dim; d++) {
                    float kd = ppsd_kv_load(slot, krow + d, kv_bf16);
#pragma unroll
                    for (int h = 0; h < PPSD_ATTN_MAX_HEADS; h++) {
                        if (h < hb) score[h] += qs[h * head_dim + d] * kd;
                    }
                }
            }
        }
#pragma unroll
        for (int h = 0; h < PPSD_ATTN_MAX_HEADS; h++) {
            if (h < hb) {
                float sc = valid ? score[h] * scale : -INFINITY;
                float m_new = fmaxf(m[h], ppsd_warp_max(sc));  // finite: the tile has a valid position
                float p = valid ? expf(sc - m_new) : 0.0f;
                float correction = expf(m[h] - m_new);           // 0 on the warp's first tile (m = -inf)
                l[h] = l[h] * correction + ppsd_warp_sum(p);
                m[h] = m_new;
                probs[warp][h][lane] = p;
                if (lane == 0) corrections[warp][h] = correction;
            }
        }
        __syncwarp();
        int valid_count = min(PPSD_WARP, to - tile);
#pragma unroll
        for (int i = 0; i < per_lane; i++) {
            int e = lane + i * PPSD_WARP;
            if (e < dims) {
                int h = e / head_dim, d = e % head_dim;
                float a = acc[i] * corrections[warp][h];
                long long vcol = values + (long long) tile * kv_dim + d;
                for (int jj = 0; jj < valid_count; jj++) a += probs[warp][h][jj] * ppsd_kv_load(slot, vcol + (long long) jj * kv_dim, kv_bf16);
                acc[i] = a;
            }
        }
        __syncwarp();
    }

    if (lane == 0) {
#pragma unroll
        for (int h = 0; h < PPSD_ATTN_MAX_HEADS; h++) {
            warp_max[warp][h] = m[h];
            warp_sum[warp][h] = l[h];
        }
    }
#pragma unroll
    for (int i = 0; i < per_lane; i++) {
        int e = lane + i * PPSD_WARP;
        if (e < dims) warp_acc[warp][e] = acc[i];
    }
    __syncthreads();

    // This block's result per (head, dim): the warps' partial softmaxes merged. A warp (or, with
    // several splits, a whole block) that saw no position has max -inf and contributes nothing.
    int stride = head_dim + 2;
    for (int e = threadIdx.x; e < dims; e += blockDim.x) {
        int h = e / head_dim, d = e % head_dim;
        float mx = -INFINITY;
#pragma unroll
        for (int w = 0; w < PPSD_ATTN_WARPS; w++) mx = fmaxf(mx, warp_max[w][h]);
        float sum = 0.0f, o = 0.0f;
        if (mx != -INFINITY) {
#pragma unroll
            for (int w = 0; w < PPSD_ATTN_WARPS; w++) {
                float weight = warp_max[w][h] == -INFINITY ? 0.0f : expf(warp_max[w][h] - mx);
                sum += warp_sum[w][h] * weight;
                o += warp_acc[w][e] * weight;
            }
        }
        long long row_head = (long long) t * heads + head0 + h;
        if (splits == 1) {
            out[row_head * head_dim + d] = o / sum;
        } else {
            float* slot_out = partial + (row_head * splits + s) * stride;
            if (d == 0) {
                slot_out[0] = mx;
                slot_out[1] = sum;
            }
            slot_out[2 + d] = o;
        }
    }
    if (splits == 1) return;

    // The last block of this (row, KV head, chunk) merges all splits' partials.
    __threadfence();
    __syncthreads();
    int* ticket = tickets + ((long long) t * kv_heads + g) * chunks + c;
    if (threadIdx.x == 0) merges = atomicAdd(ticket, 1) == splits - 1;
    __syncthreads();
    if (!merges) return;
    __threadfence();
    for (int e = threadIdx.x; e < dims; e += blockDim.x) {
        int h = e / head_dim, d = e % head_dim;
        long long row_head = (long long) t * heads + head0 + h;
        const float* parts = partial + row_head * splits * stride;
        float mx = -INFINITY;
        for (int p = 0; p < splits; p++) mx = fmaxf(mx, __ldcg(parts + p * stride));
        float sum = 0.0f, o = 0.0f;
        for (int p = 0; p < splits; p++) {
            float mp = __ldcg(parts + p * stride);
            if (mp == -INFINITY) continue;
            float weight = expf(mp - mx);
            sum += __ldcg(parts + p * stride + 1) * weight;
            o += __ldcg(parts + p * stride + 2 + d) * weight;
        }
        out[row_head * head_dim + d] = o / sum;
    }
    if (threadIdx.x == 0) *ticket = 0;  // ready for the next launch
}
