// Token embedding lookup: out[t, :] = table[tokens[t], :] widened to float.
#include "ppsd_device.cuh"

// Grid (ceil(dim / blockDim.x), n): one row per blockIdx.y; consecutive threads read consecutive
// elements of the row, so loads are coalesced. Token ids are validated on the host.
template <typename W>
__device__ __forceinline__ void embed_rows(float* out, const typename W::T* table, const int* tokens, int dim) {
    int t = blockIdx.y;
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= dim) return;
    long long row = (long long) tokens[t] * dim;
    out[(long long) t * dim + c] = W::at(table, row + c);
}

PPSD_KERNEL void embed_f32(float* out, const float* table, const int* tokens, int dim) {
    embed_rows<WeightF32>(out, table, tokens, dim);
}

PPSD_KERNEL void embed_f16(float* out, const unsigned short* table, const int* tokens, int dim) {
    embed_rows<WeightF16>(out, table, tokens, dim);
}

PPSD_KERNEL void embed_bf16(float* out, const unsigned short* table, const int* tokens, int dim) {
    embed_rows<WeightBF16>(out, table, tokens, dim);
}
