// Element-wise kernels: SwiGLU activation and residual add, grid-stride loops over `count` floats.
#include "ppsd_device.cuh"

// gate[i] = silu(gate[i]) * up[i]
PPSD_KERNEL void swiglu(float* gate, const float* up, int count) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += gridDim.x * blockDim.x) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

// x[i] += y[i]  (the matmuls fuse their residual adds; this serves callers that cannot)
PPSD_KERNEL void residual_add(float* x, const float* y, int count) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += gridDim.x * blockDim.x) x[i] += y[i];
}

// x[r, c] += bias[c] for count = rows x width floats (the q/k/v projection biases of Qwen2)
PPSD_KERNEL void add_bias(float* x, const float* bias, int width, int count) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += gridDim.x * blockDim.x) x[i] += bias[i % width];
}
