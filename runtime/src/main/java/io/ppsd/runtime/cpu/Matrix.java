package io.ppsd.runtime.cpu;

import io.ppsd.runtime.model.DType;
import io.ppsd.runtime.model.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A row-major weight matrix as the CPU kernels read it. F32 and BF16 stay in the memory-mapped file
 * (BF16 is widened inside the dot product: a 16-bit shift); F16 is widened once to F32 off-heap at
 * load, because the Vector API has no half-precision conversion that is fast on every CPU.
 */
public record Matrix(MemorySegment data, DType dtype, int rows, int cols) {
    static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public static Matrix of(Tensor t, Arena arena) {
        int rows = t.rows(), cols = t.cols();
        if (t.dtype() != DType.F16) return new Matrix(t.data(), t.dtype(), rows, cols);
        long n = t.elements();
        MemorySegment f32 = arena.allocate(4 * n, 64);
        for (long i = 0; i < n; i++) {
            f32.setAtIndex(LE_FLOAT, i, Float.float16ToFloat(t.data().getAtIndex(LE_SHORT, i)));
        }
        return new Matrix(f32, DType.F32, rows, cols);
    }

    /** Element (r, c) as a float; for the slow paths (embedding rows, tests), not for kernels. */
    public float get(int r, int c) {
        long i = (long) r * cols + c;
        return switch (dtype) {
            case F32 -> data.getAtIndex(LE_FLOAT, i);
            case BF16 -> Float.intBitsToFloat(data.getAtIndex(LE_SHORT, i) << 16);
            case F16 -> Float.float16ToFloat(data.getAtIndex(LE_SHORT, i));
        };
    }

    /** Copies row r into out[off, off+cols). */
    public void row(int r, float[] out, int off) {
        if (dtype == DType.F32) {
            MemorySegment.copy(data, LE_FLOAT, (long) r * cols * 4, out, off, cols);
        } else {
            for (int c = 0; c < cols; c++) out[off + c] = get(r, c);
        }
    }

    /** A small vector (norm weights) copied to the heap. */
    public static float[] vector(Tensor t) {
        float[] v = new float[(int) t.elements()];
        for (int i = 0; i < v.length; i++) {
            v[i] = switch (t.dtype()) {
                case F32 -> t.data().getAtIndex(LE_FLOAT, i);
                case BF16 -> Float.intBitsToFloat(t.data().getAtIndex(LE_SHORT, i) << 16);
                case F16 -> Float.float16ToFloat(t.data().getAtIndex(LE_SHORT, i));
            };
        }
        return v;
    }
}
