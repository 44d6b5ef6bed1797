package io.ppsd.runtime.cpu;

import io.ppsd.runtime.model.DType;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The arithmetic of the forward pass on one core, with the Vector API. Everything works on
 * row-major float arrays for activations and {@link Matrix} rows for weights; nothing allocates.
 */
final class VectorKernels {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Shorts for one float vector's worth of BF16 weights (half the bit width). */
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, jdk.incubator.vector.VectorShape.forBitSize(F.vectorBitSize() / 2));
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private VectorKernels() {}

    /**
     * out[outOff + t * outStride + r] = W[r] · x[t * cols ..] for rows [from, to) and tokens [0, n).
     * A weight row is loaded once per group of four tokens, so batched prefill and verification
     * read the weights a quarter as often as token-by-token decoding would.
     */
    static void matmulRows(Matrix w, float[] x, int n, float[] out, int outOff, int outStride, int from, int to) {
        int cols = w.cols();
        boolean bf16 = w.dtype() == DType.BF16;
        for (int r = from; r < to; r++) {
            long rowOff = (long) r * cols * w.dtype().bytes;
            int t = 0;
            for (; t + 4 <= n; t += 4) {
                if (bf16) dot4Bf16(w.data(), rowOff, x, t * cols, cols, out, outOff + t * outStride + r, outStride);
                else dot4F32(w.data(), rowOff, x, t * cols, cols, out, outOff + t * outStride + r, outStride);
            }
            for (; t < n; t++) {
                out[outOff + t * outStride + r] = bf16 ? dotBf16(w.data(), rowOff, x, t * cols, cols) : dotF32(w.data(), rowOff, x, t * cols, cols);
            }
        }
    }

    static float dotF32(MemorySegment w, long off, float[] x, int xOff, int n) {
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        int L = F.length();
        int i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            acc0 = FloatVector.fromMemorySegment(F, w, off + 4L * i, LE).fma(FloatVector.fromArray(F, x, xOff + i), acc0);
            acc1 = FloatVector.fromMemorySegment(F, w, off + 4L * (i + L), LE).fma(FloatVector.fromArray(F, x, xOff + i + L), acc1);
        }
        for (; i + L <= n; i += L) {
            acc0 = FloatVector.fromMemorySegment(F, w, off + 4L * i, LE).fma(FloatVector.fromArray(F, x, xOff + i), acc0);
        }
        float sum = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += w.get(Matrix.LE_FLOAT, off + 4L * i) * x[xOff + i];
        return sum;
    }

    static void dot4F32(MemorySegment w, long off, float[] x, int xOff, int n, float[] out, int outOff, int outStride) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        int L = F.length();
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector wv = FloatVector.fromMemorySegment(F, w, off + 4L * i, LE);
            a0 = wv.fma(FloatVector.fromArray(F, x, xOff + i), a0);
            a1 = wv.fma(FloatVector.fromArray(F, x, xOff + n + i), a1);
            a2 = wv.fma(FloatVector.fromArray(F, x, xOff + 2 * n + i), a2);
            a3 = wv.fma(FloatVector.fromArray(F, x, xOff + 3 * n + i), a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float wi = w.get(Matrix.LE_FLOAT, off + 4L * i);
            s0 += wi * x[xOff + i];
            s1 += wi * x[xOff + n + i];
            s2 += wi * x[xOff + 2 * n + i];
            s3 += wi * x[xOff + 3 * n + i];
        }
        out[outOff] = s0;
        out[outOff + outStride] = s1;
        out[outOff + 2 * outStride] = s2;
        out[outOff + 3 * outStride] = s3;
    }

    /** BF16 weights widened in registers: the 16 bits are the top half of an F32. */
    private static FloatVector bf16(MemorySegment w, long byteOff) {
        return ((IntVector) ShortVector.fromMemorySegment(S, w, byteOff, LE).convertShape(VectorOperators.S2I, I, 0))
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    static float dotBf16(MemorySegment w, long off, float[] x, int xOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        int L = F.length();
        int i = 0;
        for (; i + L <= n; i += L) {
            acc = bf16(w, off + 2L * i).fma(FloatVector.fromArray(F, x, xOff + i), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += Float.intBitsToFloat(w.get(Matrix.LE_SHORT, off + 2L * i) << 16) * x[xOff + i];
        return sum;
    }

    static void dot4Bf16(MemorySegment w, long off, float[] x, int xOff, int n, float[] out, int outOff, int outStride) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        int L = F.length();
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector wv = bf16(w, off + 2L * i);
            a0 = wv.fma(FloatVector.fromArray(F, x, xOff + i), a0);
            a1 = wv.fma(FloatVector.fromArray(F, x, xOff + n + i), a1);
            a2 = wv.fma(FloatVector.fromArray(F, x, xOff + 2 * n + i), a2);
            a3 = wv.fma(FloatVector.fromArray(F, x, xOff + 3 * n + i), a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float wi = Float.intBitsToFloat(w.get(Matrix.LE_SHORT, off + 2L * i) << 16);
            s0 += wi * x[xOff + i];
            s1 += wi * x[xOff + n + i];
            s2 += wi * x[xOff + 2 * n + i];
            s3 += wi * x[xOff + 3 * n + i];
        }
        out[outOff] = s0;
        out[outOff + outStride] = s1;
        out[outOff + 2 * outStride] = s2;
        out[outOff + 3 * outStride] = s3;
    }

    /** Dot product of two float-array slices (attention scores). */
    static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        int L = F.length();
        int i = 0;
        for (; i + L <= n; i += L) {
            acc = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += a[aOff + i] * b[bOff + i];
        return sum;
    }

    /** out[outOff..] += s * v[vOff..] (attention's weighted sum of values). */
    static void axpy(float s, float[] v, int vOff, float[] out, int outOff, int n) {
        int L = F.length();
        int i = 0;
        FloatVector sv = FloatVector.broadcast(F, s);
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(F, v, vOff + i).fma(sv, FloatVector.fromArray(F, out, outOff + i)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) out[outOff + i] += s * v[vOff + i];
    }

    /** out = x * rsqrt(mean(x²) + eps) * weight, for one row of width n. */
    static void rmsnorm(float[] out, int outOff, float[] x, int xOff, float[] weight, int n, float eps) {
        float ss = dot(x, xOff, x, xOff, n);
        float scale = (float) (1.0 / Math.sqrt(ss / n + eps));
        int L = F.length();
        int i = 0;
        FloatVector sv = FloatVector.broadcast(F, scale);
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(F, x, xOff + i).mul(sv).mul(FloatVector.fromArray(F, weight, i)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) out[outOff + i] = x[xOff + i] * scale * weight[i];
    }

    /** x[xOff..] += y[yOff..] over n elements (residual connections). */
    static void add(float[] x, int xOff, float[] y, int yOff, int n) {
        int L = F.length();
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(F, x, xOff + i).add(FloatVector.fromArray(F, y, yOff + i)).intoArray(x, xOff + i);
        }
        for (; i < n; i++) x[xOff + i] += y[yOff + i];
    }

    /** gate[i] = silu(gate[i]) * up[i], the SwiGLU activation. */
    static void swiglu(float[] gate, float[] up, int off, int n) {
        for (int i = off; i < off + n; i++) {
            float g = gate[i];
            gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }
}
