package io.ppsd.runtime.decode;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/**
 * The sampler's softmax (Vector API, an exp of its own): close to Math.exp's, the same bits
 * whether the JIT has compiled it or not, and the special cases (masked, infinite and NaN logits)
 * as before.
 */
class SoftmaxTest {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    @Test
    void expIsWithinAnUlpOfTheExactValue() {
        // Every float in [-104, 0] was checked once (max 0.937 ulp); here a sample, denser near the underflow.
        var r = new SplittableRandom(1);
        float[] x = new float[1 << 16];
        for (int round = 0; round < 16; round++) {
            for (int i = 0; i < x.length; i++) x[i] = (float) (i % 4 == 0 ? -87 - 17 * r.nextDouble() : -104 * r.nextDouble());
            float[] e = exp(x);
            for (int i = 0; i < x.length; i++) {
                double exact = Math.exp(x[i]);
                double ulp = exact < Float.MIN_NORMAL ? Float.MIN_VALUE : Math.ulp((float) exact);
                float xi = x[i];
                assertTrue(Math.abs(e[i] - exact) < ulp, () -> "exp(" + xi + ")");
            }
        }
        float[] special = {0f, -0f, Float.NEGATIVE_INFINITY, Float.NaN, -104f, -1e30f, -Float.MIN_VALUE};
        float[] e = exp(special);
        assertArrayEquals(new float[] {1f, 1f, 0f, Float.NaN, 0f, 0f, 1f}, e);
    }

    @Test
    void expIsTheSameArithmeticInterpretedAndCompiled() {
        var r = new SplittableRandom(2);
        float[] x = new float[4096];
        for (int i = 0; i < x.length; i++) x[i] = (float) (-110 * r.nextDouble());
        // The first calls run interpreted (if no other test compiled the exp before): each lane must
        // be the scalar IEEE arithmetic, before and after the JIT.
        for (int call = 0; call < 3000; call++) {
            if (call == 0 || call == 2999) {
                float[] e = exp(x);
                for (int i = 0; i < x.length; i++) assertEquals(Float.floatToRawIntBits(scalarExp(x[i])), Float.floatToRawIntBits(e[i]), "exp(" + x[i] + ")");
            } else {
                exp(x);
            }
        }
    }

    @Test
    void softmaxMatchesOneInDoubles() {
        var r = new SplittableRandom(3);
        for (int trial = 0; trial < 200; trial++) {
            // Sizes around the vector length: a partial last vector, or none, or only that.
            int n = trial < 100 ? 1 + trial % (3 * F.length()) : 1 + r.nextInt(20000);
            float temperature = new float[] {0.05f, 0.8f, 1f, 3f}[r.nextInt(4)];
            float penalty = new float[] {1f, 1.3f, 0.7f}[r.nextInt(3)];
            int off = r.nextInt(3);
            float[] logits = new float[off + n + r.nextInt(3)];
            for (int i = 0; i < logits.length; i++) logits[i] = (float) (r.nextGaussian() * 4);
            for (int i = 0; i < n / 5; i++) logits[off + r.nextInt(n)] = Float.NEGATIVE_INFINITY;
            logits[off + r.nextInt(n)] = 3; // at least one finite logit
            int[] history = {r.nextInt(n), r.nextInt(n), n + 1};
            var params = new SamplingParams(temperature, 0, 1f, penalty, trial);
            float[] actual = new Sampler(params, n).distribution(logits, off, history, history.length);
            double[] expected = doubleSoftmax(params, logits, off, n, history);
            for (int i = 0; i < n; i++) {
                int t = trial, id = i;
                // A few ulps: the exp's, the sum's and the division's rounding.
                assertEquals(expected[i], actual[i], 4 * Math.ulp((float) expected[i]) + Float.MIN_VALUE, () -> "trial " + t + " token " + id + " of " + n);
            }
        }
    }

    @Test
    void infiniteAndNanLogitsMakeEveryProbabilityNan() {
        for (int n : new int[] {1, F.length(), 3 * F.length() + 5}) {
            for (int at : new int[] {0, n - 1}) {
                float[] nan = new float[n];
                nan[at] = Float.NaN;
                float[] infinite = new float[n];
                infinite[at] = Float.POSITIVE_INFINITY;
                float[] masked = new float[n];
                java.util.Arrays.fill(masked, Float.NEGATIVE_INFINITY);
                for (float[] logits : new float[][] {nan, infinite, masked}) {
                    float[] p = new Sampler(SamplingParams.temperature(1f, 0), n).distribution(logits, 0, new int[0], 0);
                    for (float v : p) assertTrue(Float.isNaN(v), () -> java.util.Arrays.toString(logits));
                }
            }
        }
    }

    @Test
    void aDistributionIsTheSameOnEveryCall() {
        var r = new SplittableRandom(4);
        int n = 5003;
        float[] logits = new float[n];
        for (int i = 0; i < n; i++) logits[i] = (float) (r.nextGaussian() * 3);
        var sampler = new Sampler(new SamplingParams(0.8f, 0, 1f, 1.1f, 0), n);
        int[] history = {4, 5000};
        float[] first = sampler.distribution(logits, 0, history, 2).clone();
        for (int call = 0; call < 2000; call++) sampler.distribution(logits, 0, history, 2);
        assertArrayEquals(first, sampler.distribution(logits, 0, history, 2));
    }

    private static float[] exp(float[] x) {
        float[] e = new float[x.length];
        int i = 0;
        for (; i + F.length() <= x.length; i += F.length()) Sampler.exp(FloatVector.fromArray(F, x, i)).intoArray(e, i);
        for (; i < x.length; i++) {
            float[] lane = new float[F.length()];
            lane[0] = x[i];
            e[i] = Sampler.exp(FloatVector.fromArray(F, lane, 0)).lane(0);
        }
        return e;
    }

    /** Sampler.exp's steps on one float, in plain Java arithmetic. */
    private static float scalarExp(float x) {
        x = Math.max(x, -104f);
        float rounded = Math.fma(x, 1.44269504088896341f, 0x1.8p23f);
        float k = rounded - 0x1.8p23f;
        float r = Math.fma(k, 2.12194440054690583e-4f, k * -0.693359375f + x);
        float p = Math.fma(r, 1f / 5040, 1f / 720);
        for (float c : new float[] {1f / 120, 1f / 24, 1f / 6, 0.5f, 1f, 1f}) p = Math.fma(p, r, c);
        float twoToK = Float.intBitsToFloat((Float.floatToRawIntBits(rounded) - Float.floatToRawIntBits(0x1.8p23f) + 127 + 64) << 23);
        return p * twoToK * 0x1p-64f;
    }

    /** The softmax with the exp and the sum in doubles; its arguments (logit - max) / T rounded to floats, as the sampler's are. */
    private static double[] doubleSoftmax(SamplingParams params, float[] logits, int off, int n, int[] history) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = logits[off + i];
        for (int id : history) {
            if (id < n) x[id] = logits[off + id] > 0 ? logits[off + id] / params.repetitionPenalty() : logits[off + id] * params.repetitionPenalty();
        }
        float max = Float.NEGATIVE_INFINITY;
        for (float v : x) max = Math.max(max, v);
        float invT = 1f / params.temperature();
        double[] p = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) sum += p[i] = Math.exp((x[i] - max) * invT);
        for (int i = 0; i < n; i++) p[i] /= sum;
        return p;
    }
}
