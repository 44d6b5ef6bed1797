// Token selection on the device: greedy argmax per row, and temperature sampling from one row
// given a uniform random number drawn on the host (so that seeds stay reproducible in Java).
#include "ppsd_device.cuh"

#define PPSD_SAMPLE_THREADS 256

// Better of two (value, index) candidates: larger value, ties to the lower index (as the CPU sampler).
__device__ __forceinline__ void ppsd_better(float& v, int& i, float ov, int oi) {
    if (ov > v || (ov == v && oi < i)) { v = ov; i = oi; }
}

// out[r] = argmax_c logits[r, c] (ties to the lower index), and best[r] (when best is not null) its
// logit, or NaN when the row holds a NaN or +inf anywhere: broken weights, which the host turns
// into a clear error (Sampler.requireFinite's check, done where the logits are). Grid (rows),
// block PPSD_SAMPLE_THREADS.
PPSD_KERNEL void argmax(int* out, float* best, const float* logits, int vocab) {
    __shared__ float best_v[PPSD_SAMPLE_THREADS / PPSD_WARP];
    __shared__ int best_i[PPSD_SAMPLE_THREADS / PPSD_WARP];
    __shared__ int broken[PPSD_SAMPLE_THREADS / PPSD_WARP];
    const float* row = logits + (long long) blockIdx.x * vocab;
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
        if (idx == 0x7fffffff) idx = 0;  // every logit -inf (all masked): token 0, as the CPU's argmax
        out[blockIdx.x] = idx;
        if (best != nullptr) best[blockIdx.x] = bad ? NAN : v;
    }
}

// Samples one token from softmax(logits / temperature) of a single row: the block computes the
// normaliser, each thread the mass of its contiguous slice of the vocabulary, a scan over the
// slices finds the one holding u * total, and its owner walks it. One block of PPSD_SAMPLE_THREADS.
PPSD_KERNEL void sample_temperature(int* out, const float* logits, int vocab, float temperature, float u) {
    __shared__ float scratch[32];
    __shared__ float mass[PPSD_SAMPLE_THREADS];
    int per = (vocab + blockDim.x - 1) / blockDim.x;
    int begin = min(vocab, (int) threadIdx.x * per), end = min(vocab, begin + per);
    float local_max = -INFINITY;
    for (int c = begin; c < end; c++) local_max = fmaxf(local_max, logits[c]);
    float mx = ppsd_warp_max(local_max);
    if (threadIdx.x % PPSD_WARP == 0) scratch[threadIdx.x / PPSD_WARP] = mx;
    __syncthreads();
    mx = -INFINITY;
    for (int w = 0; w < (int) (blockDim.x / PPSD_WARP); w++) mx = fmaxf(mx, scratch[w]);
    __syncthreads();
    float inv_t = 1.0f / temperature;
    float s = 0.0f;
    for (int c = begin; c < end; c++) s += expf((logits[c] - mx) * inv_t);
    mass[threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        float total = 0.0f;
        for (int i = 0; i < (int) blockDim.x; i++) total += mass[i];
        float target = u * total, run = 0.0f;
        int chosen = vocab - 1;
        for (int i = 0; i < (int) blockDim.x; i++) {
            if (run + mass[i] > target) {
                int b = min(vocab, i * per), e = min(vocab, b + per);
                chosen = e - 1;
                for (int c = b; c < e; c++) {
                    run += expf((logits[c] - mx) * inv_t);
                    if (run > target) { chosen = c; break; }
                }
                break;
            }
            run += mass[i];
        }
        out[0] = chosen;
    }
}
