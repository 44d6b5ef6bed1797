package io.ppsd.cuda;

import io.ppsd.runtime.model.DType;

/** A row-major weight matrix in device memory, in the dtype it was stored in (the kernels widen it). */
record DeviceMatrix(DeviceBuffer buffer, DType dtype, int rows, int cols) {
    long address() {
        return buffer.address();
    }
}
