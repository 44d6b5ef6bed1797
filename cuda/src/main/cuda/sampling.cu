// Token selection on the device: greedy argmax per row, and temperature sampling from one row
// given a uniform random number drawn on the host (so that seeds stay reproducible in Java).
#include "ppsd_device.cuh"

#define PPSD_SAMPLE_THREADS 256

// Better of two (value, index) candidates: larger value, ties to the lower index (as the CPU sampler).
__device__ __forceinline__ void ppsd_better(float& v, int& i, float ov, int oi) {
    if (ov > v || (ov == v && oi < i)) { v = ov; i = oi; }
}

// The block's argmax of row[0, vocab) (ties to the lower index; every logit -inf: token 0, as the
// CPU's argmax), its logit, and whether the row holds a NaN or +inf anywhere (broken weights),
// returned to every thread of the block. Block PPSD_SAMPLE_THREADS.
__device__ void ppsd_block_argmax(const float* row, int vocab, float* best_value, int* best_index, int* broken_row) {
    __shared__ float best_v[PPSD_SAMPLE_THREADS / PPSD_WARP];
    __shared__ int best_i[PPSD_SAMPLE_THREADS / PPSD_WARP];
    __shared__ int broken[PPSD_SAMPLE_THREADS / PPSD_WARP];
    __shared__ float result_v;
    __shared__ int result_i, result_bad;
    float v = -INFINITY;
    int idx = 0x7fffffff, bad = 0;
    for (int c = threadIdx.x; c < vocab; c += blockDim.x) {
        float x = row[c];
        bad |= (x != x) || x == INFINITY;
        ppsd_better(v, idx, x, c);
    }
#pragma unroll
    for (int offset = PPSD_WARP / 2; offset > 0; offset >>= 1) {
        float ov = __shfl_xor_sync(PPSD_FULL_MASK, v, offset);
        int oi = __shfl_xor_sync(PPSD_FULL_MASK, idx, offset);
        bad |= __shfl_xor_sync(PPSD_FULL_MASK, bad, offset);
        ppsd_better(v, idx, ov, oi);
    }
    int lane = threadIdx.x % PPSD_WARP, warp = threadIdx.x / PPSD_WARP;
    if (lane == 0) { best_v[warp] = v; best_i[warp] = idx; broken[warp] = bad; }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < (int) (blockDim.x / PPSD_WARP); w++) {
            ppsd_better(v, idx, best_v[w], best_i[w]);
            bad |= broken[w];
        }
        result_v = v;
        result_i = idx == 0x7fffffff ? 0 : idx;
        result_bad = bad;
    }
    __syncthreads();
    *best_value = result_v;
    *best_index = result_i;
    *broken_row = result_bad;
}

// out[r] = argmax_c logits[r, c] (ties to the lower index), and best[r] (when best is not null) its
// logit, or NaN when the row holds a NaN or +inf anywhere: broken weights, which the host turns
// into a clear error (Sampler.requireFinite's check, done where the logits are). Grid (rows),
// block PPSD_SAMPLE_THREADS.
PPSD_KERNEL void argmax(int* out, float* best, const float* logits, int vocab) {
    float v;
    int idx, bad;
    ppsd_block_argmax(logits + (long long) blockIdx.x * vocab, vocab, &v, &idx, &bad);
    if (threadIdx.x == 0) {
        out[blockIdx.x] = idx;
        if (best != nullptr) best[blockIdx.x] = bad ? NAN : v;
    }
}

// The next token of a decode step from one logits row, with its parameters in device memory (so
// that one captured graph serves every step): params[0] the temperature, params[1] a uniform
// number in [0, 1) drawn on the host from the request's seeded stream. Temperature 0: the argmax
// (as argmax above). Otherwise a draw from softmax(logits / temperature) by inverting its
// cumulative sum at u (the host Sampler's draw, on the unnormalised masses): each thread sums the
// mass of its contiguous slice of the vocabulary, thread 0 finds the slice holding u * total and
// walks it. best[0]: the chosen token's logit, or NaN when the row holds a NaN or +inf anywhere.
// One block of PPSD_SAMPLE_THREADS.
PPSD_KERNEL void choose_token(int* out, float* best, const float* logits, int vocab, const float* params) {
    __shared__ float mass[PPSD_SAMPLE_THREADS];
    float mx;
    int idx, bad;
    ppsd_block_argmax(logits, vocab, &mx, &idx, &bad);
    float temperature = params[0], u = params[1];
    if (temperature <= 0.0f || bad || mx == -INFINITY) {  // greedy, broken (reported) or all masked
        if (threadIdx.x == 0) { out[0] = idx; best[0] = bad ? NAN : mx; }
        return;
    }
    int per = (vocab + blockDim.x - 1) / blockDim.x;
    int begin = min(vocab, (int) threadIdx.x * per), end = min(vocab, begin + per);
    float inv_t = 1.0f / temperature;
    float s = 0.0f;
    for (int c = begin; c < end; c++) s += expf((logits[c] - mx) * inv_t);
    mass[threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        float total = 0.0f;
        for (int i = 0; i < (int) blockDim.x; i++) total += mass[i];
        float target = u * total, run = 0.0f;
        int chosen = -1, last_slice = -1;
        for (int i = 0; i < (int) blockDim.x && chosen < 0; i++) {
            if (mass[i] <= 0.0f) continue;
            last_slice = i;
            if (run + mass[i] > target) {
                int b = min(vocab, i * per), e = min(vocab, b + per);
                for (int c = b; c < e && chosen < 0; c++) {
                    run += expf((logits[c] - mx) * inv_t);
                    if (run > target) chosen = c;
                }
            } else {
                run += mass[i];
            }
        }
        if (chosen < 0) {  // rounding left the target at the end: the last token of positive mass (the host draw's fallback)
            int b = min(vocab, last_slice * per), e = min(vocab, b + per);
            for (int c = e - 1; c >= b && chosen < 0; c--) if (expf((logits[c] - mx) * inv_t) > 0.0f) chosen = c;
            if (chosen < 0) chosen = idx;
        }
        out[0] = chosen;
        best[0] = logits[chosen];
    }
}
