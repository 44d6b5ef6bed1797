package io.ppsd.runtime.decode;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Turns logits into a token (and, for speculative sampling, into the probability distribution the
 * token is drawn from). One sampler per sequence: it owns the seeded random stream and reuses its
 * buffers, so sampling allocates nothing per token.
 */
public final class Sampler {
    /*
     * Top-k / top-p keep a prefix of the rank order: probability descending, ties to the lower token
     * id. Rather than sorting the vocabulary, the softmax histograms the exps into logarithmic
     * buckets as it computes them; the tail cut reads off the bucket where the cut falls and sorts
     * only the tokens at or above it (a few dozen to a few thousand at a 128k vocabulary).
     *
     * A bucket is the top bits of the exp's float bit pattern (exponent and 3 mantissa bits: a
     * factor of 2^(1/8) per bucket). Exps are +0 up to 1 (or NaN, which makes every probability
     * NaN and is dealt with apart), and for those the int bit pattern orders like the value.
     * Dividing by the sum keeps that order (ties can only merge), so the tokens whose exp reaches a
     * bucket's floor all have a probability of at least floor / sum.
     */
    private static final int BUCKET_SHIFT = 20;
    /** Room for every non-negative bit pattern, NaN's included. */
    private static final int BUCKETS = 1 << (31 - BUCKET_SHIFT);
    /** Chunks this short are insertion sorted; longer ones radix sorted. */
    private static final int INSERTION_SORT_MAX = 48;
    private static final int RADIX_BITS = 11;

    private final SamplingParams params;
    private final SplittableRandom random;
    private final float[] probs;
    /** Tokens the tail cut looked at, as {@link #rankKey rank keys}; sorted, a prefix of the rank order. */
    private final long[] ranked;
    /** How many tokens the last tail cut kept: the first of {@link #ranked}. */
    private int keptCount;
    private final long[] radixScratch;
    private final int[] radixCount;
    private final int[] bucketCount;
    private final double[] bucketMass;

    public Sampler(SamplingParams params, int vocabSize) {
        this.params = params;
        this.random = new SplittableRandom(params.seed());
        this.probs = new float[vocabSize];
        boolean cutsTail = params.topP() < 1f || params.topK() > 0;
        this.ranked = cutsTail ? new long[vocabSize] : null;
        this.radixScratch = cutsTail ? new long[vocabSize] : null;
        this.radixCount = cutsTail ? new int[1 << RADIX_BITS] : null;
        this.bucketCount = cutsTail ? new int[BUCKETS] : null;
        this.bucketMass = cutsTail ? new double[BUCKETS] : null;
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
        int token;
        if (params.isGreedy() && params.repetitionPenalty() == 1f) {
            token = argmax(logits, off, probs.length);
        } else {
            float[] p = distribution(logits, off, history, historyLength);
            token = params.isGreedy() ? argmax(p, 0, p.length) : ranked != null ? drawKept() : draw(p);
        }
        requireFinite(logits, off, token);
        return token;
    }

    /**
     * Fails when the chosen token's logit is NaN or +∞: broken weights (a NaN anywhere spreads to
     * every logit) would otherwise decode as token 0 forever, with every draft "accepted". One
     * comparison per token. (−∞ is a masked token, legitimate; it is chosen only when all are.)
     */
    public static void requireFinite(float[] logits, int off, int token) {
        float v = logits[off + token];
        if (Float.isNaN(v) || v == Float.POSITIVE_INFINITY) {
            throw new NonFiniteLogitsException("the model produced a non-finite logit (" + logits[off + token] + " for token " + token
                    + "): its weights or its exit head are broken (NaN or infinite values)");
        }
    }

    /** The model computed NaN or infinity: not the request's fault, and retrying will not help. */
    public static final class NonFiniteLogitsException extends IllegalStateException {
        public NonFiniteLogitsException(String message) {
            super(message);
        }
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

    /**
     * {@code draw(probs)} after a tail cut, walking the kept tokens only: the same tokens in the
     * same (id) order, so the same draw, without a pass over the zeroed rest of the vocabulary.
     */
    private int drawKept() {
        for (int i = 0; i < keptCount; i++) ranked[i] = (long) idOf(ranked[i]) << 32;
        sortRanked(0, keptCount);
        double u = random.nextDouble();
        double acc = 0;
        int last = 0;
        for (int i = 0; i < keptCount; i++) {
            int id = (int) (ranked[i] >>> 32);
            if (probs[id] > 0) {
                acc += probs[id];
                last = id;
                if (u < acc) return id;
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
        if (ranked == null) {
            for (int i = 0; i < n; i++) {
                float e = (float) Math.exp((probs[i] - max) * invT);
                probs[i] = e;
                sum += e;
            }
        } else {
            // The same loop, histogramming the exps for the tail cut: alongside the exp call that is
            // cheaper than a pass of its own over the vocabulary.
            Arrays.fill(bucketCount, 0);
            Arrays.fill(bucketMass, 0);
            for (int i = 0; i < n; i++) {
                float e = (float) Math.exp((probs[i] - max) * invT);
                probs[i] = e;
                sum += e;
                int b = Float.floatToIntBits(e) >>> BUCKET_SHIFT;
                bucketCount[b]++;
                bucketMass[b] += e;
            }
        }
        for (int i = 0; i < n; i++) probs[i] /= (float) sum;
        if (ranked != null) truncateTail(sum);
        return probs;
    }

    /**
     * Zeroes everything outside top-k / top-p and renormalizes, exactly as if the whole vocabulary
     * were sorted by rank: keep the first min(topK, n) tokens, or fewer, up to the first whose
     * cumulative probability (a double, summed in rank order) reaches topP; divide the kept ones by
     * their sum (a double, in rank order). {@code expSum} is the softmax's sum of exps.
     */
    private void truncateTail(double expSum) {
        int n = probs.length;
        int keepAtMost = params.topK() > 0 ? Math.min(params.topK(), n) : n;
        float topP = params.topP();
        float norm = (float) expSum;
        if (Float.isNaN(norm)) {
            // A NaN exp (an infinite logit, or a temperature so small that 1/T overflows) makes
            // every probability NaN: all tie, so the rank order is the id order, and no sum reaches topP.
            for (int i = 0; i < n; i++) probs[i] = i < keepAtMost ? Float.NaN : 0f;
            keptCount = 0; // draw() skips NaN: nothing to walk
            return;
        }
        // Rank the tokens from the top down in chunks, each the tokens with a probability in
        // [floor, previous floor). A floor is a bucket's lowest exp / norm, at the bucket where, by
        // the histogram, the count reaches keepAtMost (exact: the chunk holds at least those
        // tokens) or the mass reaches topP (an estimate: summed in another order it can round the
        // other way; then the next chunk, one bucket further down, continues the exact sum).
        int rankedCount = 0;
        int keep = -1;
        double cumulative = 0;
        long histogramCount = 0;
        double histogramMass = 0;
        double massToReach = topP * expSum;
        int bucket = BUCKETS;
        float ceiling = Float.POSITIVE_INFINITY;
        while (keep < 0) {
            while (bucket > 0) {
                bucket--;
                histogramCount += bucketCount[bucket];
                histogramMass += bucketMass[bucket];
                if (bucketCount[bucket] > 0 && (histogramCount >= keepAtMost || histogramMass >= massToReach)) break;
            }
            // Bucket 0's floor is 0: the last chunk takes every token left.
            float floor = Float.intBitsToFloat(bucket << BUCKET_SHIFT) / norm;
            int chunkStart = rankedCount;
            for (int i = 0; i < n; i++) {
                float p = probs[i];
                if (p >= floor && p < ceiling) ranked[rankedCount++] = rankKey(p, i);
            }
            sortRanked(chunkStart, rankedCount);
            int end = Math.min(rankedCount, keepAtMost);
            for (int i = chunkStart; i < end; i++) {
                cumulative += probabilityOf(ranked[i]);
                if (cumulative >= topP) {
                    keep = i + 1;
                    break;
                }
            }
            // Once every token is ranked, rankedCount == n ≥ keepAtMost: the loop ends.
            if (keep < 0 && rankedCount >= keepAtMost) keep = keepAtMost;
            ceiling = floor;
        }
        double kept = 0;
        for (int i = 0; i < keep; i++) kept += probabilityOf(ranked[i]);
        Arrays.fill(probs, 0f);
        for (int i = 0; i < keep; i++) probs[idOf(ranked[i])] = probabilityOf(ranked[i]) / (float) kept;
        keptCount = keep;
    }

    /**
     * A token's place in the rank order as a long: ascending rank keys are descending probability,
     * then ascending id. The high half is the probability's bits subtracted from Integer.MAX_VALUE
     * (non-negative for a probability: +0 up to 1, whose bit patterns order like their values),
     * the low half the id.
     */
    private static long rankKey(float probability, int id) {
        return (long) (Integer.MAX_VALUE - Float.floatToIntBits(probability)) << 32 | id;
    }

    private static float probabilityOf(long rankKey) {
        return Float.intBitsToFloat(Integer.MAX_VALUE - (int) (rankKey >>> 32));
    }

    private static int idOf(long rankKey) {
        return (int) rankKey;
    }

    /**
     * Sorts ranked[from, to) ascending by the high halves, keeping the order of equal ones. A
     * chunk's rank keys are gathered in ascending id order, so that is their rank order (and the
     * insertion sort, which compares whole keys, comes to the same).
     */
    private void sortRanked(int from, int to) {
        if (to - from <= INSERTION_SORT_MAX) {
            for (int i = from + 1; i < to; i++) {
                long key = ranked[i];
                int j = i - 1;
                while (j >= from && ranked[j] > key) {
                    ranked[j + 1] = ranked[j];
                    j--;
                }
                ranked[j + 1] = key;
            }
            return;
        }
        // LSD radix sort of the high halves in 11-bit digits, between ranked and radixScratch.
        // The probabilities of a chunk share their top bits: a digit that is the same for all is skipped.
        long[] source = ranked, target = radixScratch;
        int digitMask = (1 << RADIX_BITS) - 1;
        for (int shift = 32; shift < 64; shift += RADIX_BITS) {
            Arrays.fill(radixCount, 0);
            for (int i = from; i < to; i++) radixCount[(int) (source[i] >>> shift) & digitMask]++;
            if (radixCount[(int) (source[from] >>> shift) & digitMask] == to - from) continue;
            int start = from;
            for (int d = 0; d <= digitMask; d++) {
                int count = radixCount[d];
                radixCount[d] = start;
                start += count;
            }
            for (int i = from; i < to; i++) target[radixCount[(int) (source[i] >>> shift) & digitMask]++] = source[i];
            long[] swap = source;
            source = target;
            target = swap;
        }
        if (source != ranked) System.arraycopy(source, from, ranked, from, to - from);
    }
}
