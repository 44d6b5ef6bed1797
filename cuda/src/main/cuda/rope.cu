// Rotary position embedding, Hugging Face "rotate_half" convention: element i of a head pairs with
// element i + headDim/2. The angle tables (cos, sin: positions x headDim/2) are computed on the host
// in double precision, once per model, exactly as the CPU backend computes them.
#include "ppsd_device.cuh"

// x: rows x (heads * headDim), row t at position startPos + t. Grid (rows), block covers
// heads * headDim/2 pairs with a stride loop.
PPSD_KERNEL void rope(float* x, const float* cos_table, const float* sin_table, int heads, int head_dim, int start_pos) {
    int half = head_dim / 2;
    int t = blockIdx.x;
    float* row = x + (long long) t * heads * head_dim;
    const float* c = cos_table + (long long) (start_pos + t) * half;
    const float* s = sin_table + (long long) (start_pos + t) * half;
    for (int p = threadIdx.x; p < heads * half; p += blockDim.x) {
        int h = p / half, i = p % half;
        float* base = row + h * head_dim;
        float a = base[i], b = base[i + half];
        base[i] = a * c[i] - b * s[i];
        base[i + half] = b * c[i] + a * s[i];
    }
}
