package io.ppsd.cuda.check;

import io.ppsd.cuda.KvDtype;
import io.ppsd.runtime.decode.Sampler;

/**
 * How closely the CUDA backend must agree with the CPU backend: |difference| within
 * {@code relative} times the largest |value| of the compared block.
 *
 * <p>Both backends compute in F32 from bit-identical weights (F16/BF16 are widened exactly on both
 * sides, the CPU once at load, the GPU in every load), so the weight dtype does not widen the gap:
 * what differs is summation order, fused multiply-adds and expf against Math.exp, a few ULPs that
 * each layer carries forward. Measured worst cases on the random models are 1e-6 to 4e-6 (F32,
 * F16 and BF16 alike); the bound leaves a margin of about 5x. A real GPU adds the same kinds of
 * difference (its FMA contraction and expf are what the emulation's host build approximates), not
 * new ones, so the bound should hold there too.
 */
public record Agreement(double relative) {
    public static final Agreement DEFAULT = new Agreement(2e-5);

    /** The bound for a comparison whose caches hold {@code kv} on both sides (BF16: see BF16_KV). */
    public static Agreement forKv(KvDtype kv) {
        return kv == KvDtype.BF16 ? BF16_KV : DEFAULT;
    }

    /**
     * Both backends round their cached keys and values to BF16, but a K or V element whose F32
     * values differ by a few ULPs (the differences above) can round to neighbouring BF16 values:
     * one BF16 step, 2^-8 of that element, and a value downstream moves by up to about that much of
     * the largest value per flipped element it depends on. Not a proof, an argued ceiling with a
     * margin: 2^-7 ≈ 7.8e-3 of the largest value. Measured worst cases on the random models:
     * 1e-6 to 2.6e-3 (longContextAttentionMatchesCpu and wholeModelPrefillDecodeVerifyRollback log
     * theirs); greedy tokens must agree wherever the CPU's margin exceeds twice the bound.
     */
    public static final Agreement BF16_KV = new Agreement(0x1p-7);

    /**
     * |expected - actual| <= relative * max(1, max |expected|) over the first {@code count} values;
     * an infinite value must be the same infinity on both (−∞: a token a reduced-vocabulary head
     * cannot draft), NaN never passes.
     */
    public double assertClose(String what, float[] expected, float[] actual, int count) {
        double scale = 1;
        for (int i = 0; i < count; i++) if (Float.isFinite(expected[i])) scale = Math.max(scale, Math.abs(expected[i]));
        double bound = relative * scale, worst = 0;
        int worstAt = -1;
        for (int i = 0; i < count; i++) {
            if (Float.isInfinite(expected[i]) && actual[i] == expected[i]) continue;
            if (!Float.isFinite(actual[i]) || !Float.isFinite(expected[i])) {
                throw new AssertionError(what + ": CUDA value " + i + " is " + actual[i] + " (CPU " + expected[i] + ")");
            }
            double d = Math.abs(expected[i] - actual[i]);
            if (d > worst) {
                worst = d;
                worstAt = i;
            }
        }
        if (worst > bound) {
            throw new AssertionError(what + ": CUDA differs from CPU by " + worst + " at " + worstAt + " (CPU " + expected[worstAt] + ", CUDA "
                    + actual[worstAt] + "), bound " + bound);
        }
        return worst / scale;
    }

    /**
     * Greedy tokens of every row agree wherever the CPU's top-2 margin exceeds twice the allowed
     * difference (closer calls may legitimately flip); returns how many rows were decided.
     */
    public int assertSameGreedy(String what, float[] expected, float[] actual, int rows, int vocab) {
        int[] ids = new int[rows];
        for (int r = 0; r < rows; r++) ids[r] = Sampler.argmax(actual, r * vocab, vocab);
        return assertSameGreedy(what, expected, ids, rows, vocab);
    }

    /** {@link #assertSameGreedy(String, float[], float[], int, int)} against the ids CUDA picked (on the device). */
    public int assertSameGreedy(String what, float[] expected, int[] actual, int rows, int vocab) {
        double scale = 1;
        for (int i = 0; i < rows * vocab; i++) if (Float.isFinite(expected[i])) scale = Math.max(scale, Math.abs(expected[i]));
        int decided = 0;
        for (int r = 0; r < rows; r++) {
            int off = r * vocab;
            int best = Sampler.argmax(expected, off, vocab);
            float second = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < vocab; i++) if (i != best) second = Math.max(second, expected[off + i]);
            if (expected[off + best] - second > 2 * relative * scale) {
                int got = actual[r];
                if (got != best) throw new AssertionError(what + ": greedy token of row " + r + " is " + got + " on CUDA, " + best + " on the CPU");
                decided++;
            }
        }
        return decided;
    }
}
