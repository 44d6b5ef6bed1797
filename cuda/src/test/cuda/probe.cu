// Test-only kernels that probe the emulator's semantics (barriers, shuffles, bounds checks).
#include "ppsd_device.cuh"

// out[blockIdx.x] = sum of in[blockIdx.x * blockDim.x + i]: shared memory, __syncthreads and
// warp shuffles through the same block reduction the real kernels use.
PPSD_KERNEL void probe_block_sum(float* out, const float* in) {
    __shared__ float scratch[32];
    float v = in[blockIdx.x * blockDim.x + threadIdx.x];
    float s = ppsd_block_sum(v, scratch);
    if (threadIdx.x == 0) out[blockIdx.x] = s;
}

// Each lane records what every shuffle flavour gives it, to compare with the CUDA definition:
// out[0*n + i] xor 1, out[1*n + i] down 3, out[2*n + i] up 2, out[3*n + i] broadcast of lane 5.
PPSD_KERNEL void probe_shuffles(int* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int lane_value = 100 + (int) threadIdx.x;
    int x = __shfl_xor_sync(PPSD_FULL_MASK, lane_value, 1);
    int d = __shfl_down_sync(PPSD_FULL_MASK, lane_value, 3);
    int u = __shfl_up_sync(PPSD_FULL_MASK, lane_value, 2);
    int b = __shfl_sync(PPSD_FULL_MASK, lane_value, 5);
    out[i] = x;
    out[n + i] = d;
    out[2 * n + i] = u;
    out[3 * n + i] = b;
}

// Thread t writes its index, waits for the block, then reads its neighbour's: wrong without a
// real barrier (a thread that ran to completion alone would read garbage).
PPSD_KERNEL void probe_barrier_order(int* out) {
    __shared__ int stage[1024];
    stage[threadIdx.x] = (int) threadIdx.x * 3;
    __syncthreads();
    out[threadIdx.x] = stage[(threadIdx.x + 1) % blockDim.x];
}

// Writes `count` floats: with count greater than the allocation, an out-of-bounds write.
PPSD_KERNEL void probe_fill(float* out, int count, float value) {
    for (int i = threadIdx.x; i < count; i += blockDim.x) out[i] = value;
}

// Only even threads reach the barrier: a deadlock the emulator must report, not hang on.
PPSD_KERNEL void probe_divergent_barrier(int* out) {
    if (threadIdx.x % 2 == 0) {
        __syncthreads();
    } else {
        __syncwarp();
    }
    out[threadIdx.x] = 1;
}
