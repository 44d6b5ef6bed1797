package io.ppsd.runtime.model;

/** Element types of safetensors tensors that the engine computes with. */
public enum DType {
    F32(4), F16(2), BF16(2);

    public final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    /**
     * {@code f} rounded to the nearest BF16 value (ties to even; NaN stays a quiet NaN), as a float:
     * what a device that caches BF16 keys and values stores (ppsd_float_to_bf16 in the CUDA kernels).
     */
    public static float roundToBf16(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return Float.intBitsToFloat((u | 0x00400000) & 0xffff0000);
        u += 0x7fff + ((u >>> 16) & 1);
        return Float.intBitsToFloat(u & 0xffff0000);
    }

    /** The safetensors spelling ("F32", "F16", "BF16"), or null for a type the engine does not support. */
    public static DType fromSafetensors(String name) {
        return switch (name) {
            case "F32" -> F32;
            case "F16" -> F16;
            case "BF16" -> BF16;
            default -> null;
        };
    }
}
