package io.ppsd.runtime.decode;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Turns logits into a token (and, for speculative sampling, into the probability distribution the
 * token is drawn from). One sampler per sequence: it owns the seeded random stream and reuses its
 * buffers, so sampling allocates nothing per token.
 */
public final class Sampler {
    private final SamplingParams params;
    private final SplittableRandom random;
    private final float[] probs;
    private final int[] order;
    private final Integer[] boxedOrder;

    public Sampler(SamplingParams params, int vocabSize) {
        this.params = params;
        this.random = new SplittableRandom(params.seed());
        this.probs = new float[vocabSize];
        this.order = new int[vocabSize];
        this.boxedOrder = params.topP() < 1f || params.topK() > 0 ? new Integer[vocabSize] : null;
    }

    public SamplingParams params() {
        return params;
    }

    /** Index of the largest logit in logits[off, off + n); the lowest index wins ties. */
    public static int argmax(float[] logits, int off, int n) {
        int best = 0;
        float bestValue = logits[off];
        for (int i = 1; i < n; i++) {
            if (logits[off + i] > bestValue) {
                bestValue = logits[off + i];
                best = i;
            }
        }
        return best;
    }

    /** The next token for the logits row at {@code off}; {@code history} feeds the repetition penalty. */
    public int sample(float[] logits, int off, int[] history, int historyLength) {
        if (params.isGreedy() && params.repetitionPenalty() == 1f) return argmax(logits, off, probs.length);
        float[] p = distribution(logits, off, history, historyLength);
        if (params.isGreedy()) return argmax(p, 0, p.length);
        return draw(p);
    }

    /** Draws a token from a probability vector (which sums to 1 up to rounding). */
    public int draw(float[] p) {
        double u = random.nextDouble();
        double acc = 0;
        int last = 0;
        for (int i = 0; i < p.length; i++) {
            if (p[i] > 0) {
                acc += p[i];
                last = i;
                if (u < acc) return i;
            }
        }
        return last;
    }

    /** A uniform number in [0, 1) from this sampler's stream (acceptance tests of speculative sampling). */
    public double uniform() {
        return random.nextDouble();
    }

    /**
     * The distribution this sampler draws from for a logits row: temperature, repetition penalty,
     * top-k and top-p applied. Returns an internal buffer, valid until the next call.
     */
    public float[] distribution(float[] logits, int off, int[] history, int historyLength) {
        int n = probs.length;
        float invT = params.isGreedy() ? 1f : 1f / params.temperature();
        for (int i = 0; i < n; i++) probs[i] = logits[off + i];
        if (params.repetitionPenalty() != 1f) {
            for (int h = 0; h < historyLength; h++) {
                int id = history[h];
                if (id >= 0 && id < n && !Float.isNaN(probs[id])) {
                    float v = logits[off + id];
                    probs[id] = v > 0 ? v / params.repetitionPenalty() : v * params.repetitionPenalty();
                }
            }
        }
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, probs[i]);
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp((probs[i] - max) * invT);
            probs[i] = e;
            sum += e;
        }
        for (int i = 0; i < n; i++) probs[i] /= (float) sum;
        if (boxedOrder != null) truncateTail();
        return probs;
    }

    /** Zeroes everything outside top-k / top-p and renormalizes. */
    private void truncateTail() {
        int n = probs.length;
        for (int i = 0; i < n; i++) boxedOrder[i] = i;
        Arrays.sort(boxedOrder, (a, b) -> {
            int c = Float.compare(probs[b], probs[a]);
            return c != 0 ? c : Integer.compare(a, b);
        });
        for (int i = 0; i < n; i++) order[i] = boxedOrder[i];
        int keep = params.topK() > 0 ? Math.min(params.topK(), n) : n;
        double acc = 0;
        for (int i = 0; i < keep; i++) {
            acc += probs[order[i]];
            if (acc >= params.topP()) {
                keep = i + 1;
                break;
            }
        }
        double kept = 0;
        for (int i = 0; i < keep; i++) kept += probs[order[i]];
        for (int i = keep; i < n; i++) probs[order[i]] = 0f;
        for (int i = 0; i < keep; i++) probs[order[i]] /= (float) kept;
    }
}
