// RMSNorm: out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight.
#include "ppsd_device.cuh"

// One block per row (blockDim.x a multiple of 32). The row is read twice; it is at most a few KB
// and stays in L1 between the two passes.
PPSD_KERNEL void rmsnorm(float* out, const float* x, const float* weight, int dim, float eps) {
    __shared__ float scratch[32];
    const float* row = x + (long long) blockIdx.x * dim;
    float* dst = out + (long long) blockIdx.x * dim;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += row[i] * row[i];
    ss = ppsd_block_sum(ss, scratch);
    // 1/sqrtf rather than rsqrtf: both roundings are exact here, which keeps the CPU backend close.
    float scale = 1.0f / sqrtf(ss / (float) dim + eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) dst[i] = row[i] * scale * weight[i];
}
