package io.ppsd.cuda;

import static org.bytedeco.cuda.global.cudart.CUDA_SUCCESS;
import static org.bytedeco.cuda.global.cudart.cuGetErrorName;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;

/** Turns driver API result codes into exceptions that name the call and the error. */
final class DriverCall {
    private DriverCall() {}

    static void check(int result, String call) {
        if (result != CUDA_SUCCESS) throw new CudaException(call, result, errorName(result));
    }

    static String errorName(int result) {
        try (PointerPointer<BytePointer> name = new PointerPointer<>(1)) {
            if (cuGetErrorName(result, name) != CUDA_SUCCESS || name.get(0) == null) return "CUresult " + result;
            return new BytePointer(name.get(0)).getString();
        }
    }
}
