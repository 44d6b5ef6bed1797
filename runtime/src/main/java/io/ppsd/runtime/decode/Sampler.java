package io.ppsd.runtime.decode;

import java.util.Arrays;
import java.util.SplittableRandom;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Turns logits into a token (and, for speculative sampling, into the probability distribution the
 * token is drawn from). One sampler per sequence: it owns the seeded random stream and reuses its
 * buffers, so sampling allocates nothing per token.
 *
 * <p>Reproducibility: the softmax runs on the Vector API ({@link FloatVector#SPECIES_PREFERRED}),
 * with an exp of its own built from lane operations that IEEE 754 and the Vector API define bit
 * for bit (fma, add, multiply, divide, max, shifts), and a sum in a fixed order. So the same
 * logits and seed give the same distribution and the same tokens on every call and every run,
 * interpreted or JIT-compiled, on any CPU with the same preferred vector width (16 floats with
 * AVX-512, 8 with AVX2; -XX:MaxVectorSize can lower it): the width sets how the sum is grouped,
 * which can change its last bits. The exp is under 1 ulp from the exact value but not
 * {@link Math#exp}'s bits, so seeded outputs differ from those of samplers before the vectorized
 * softmax.
 */
public final class Sampler {
    /*
     * Top-k / top-p keep a prefix of the rank order: probability descending, ties to the lower token
     * id. Rather than sorting the vocabulary, the sampler histograms the probabilities into
     * logarithmic buckets; the tail cut reads off the bucket where the cut falls and sorts only the
     * tokens at or above it (a few dozen to a few thousand at a 128k vocabulary).
     *
     * A bucket is the top bits of the probability's float bit pattern (exponent and 3 mantissa bits:
     * a factor of 2^(1/8) per bucket). Probabilities are +0 up to 1 (or NaN, which makes every
     * probability NaN and is dealt with apart), and for those the int bit pattern orders like the
     * value, so the tokens in a bucket or above all have a probability of at least its floor.
     *
     * Only the buckets from a floor up are histogrammed, which spares the scalar bucket update for
     * most of the vocabulary. The cut is meant to fall at or above that floor: no token under it is
     * in the top k once the buckets above hold k tokens (the floor rises as they fill); for top-p,
     * tokens under (1 - topP) / 2n carry less than (1 - topP) / 2 of the mass between them, so the
     * ones above reach topP, and a search over bucket floors (a few vector passes) raises the floor
     * to just below where the mass does. Should the walk get below the floor anyway (rounding), the
     * rest of the vocabulary is taken as one chunk: slower, not wrong.
     */
    private static final int BUCKET_SHIFT = 20;
    /** Room for every non-negative bit pattern, NaN's included. */
    private static final int BUCKETS = 1 << (31 - BUCKET_SHIFT);
    /** Chunks this short are insertion sorted; longer ones radix sorted. */
    private static final int INSERTION_SORT_MAX = 48;
    private static final int RADIX_BITS = 11;
    /** The top-p search stops within this many buckets (half a factor of 2) of the cut's. */
    private static final int SEARCH_WIDTH = 4;
    /**
     * Far above the usual error of the search's per-lane float sums of a vocabulary's probabilities
     * (about 1e-6 at 128k); a larger error costs time, not exactness.
     */
    private static final float MASS_MARGIN = 1e-4f;

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Doubles in a vector as wide as F's: a float vector's sum goes into two of them. */
    private static final VectorSpecies<Double> D = VectorSpecies.of(double.class, F.vectorShape());

    /*
     * The exp: x = k ln 2 + r with k an integer and |r| <= ln(2) / 2, e^r by its Taylor polynomial
     * (to degree 7: the remainder is under 1e-8 relative, a tenth of a float ulp), times 2^k made
     * from exponent bits. ln 2 is split Cody-Waite style: k times the 9 bits of LN2_HI is exact, and
     * so is x minus that (the two are within a factor of 2 of each other).
     */
    private static final float LOG2_E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440054690583e-4f;
    /** Adding 1.5 * 2^23 rounds a float of magnitude under 2^22 to an integer, left in the low bits. */
    private static final float ROUND_TO_INT = 0x1.8p23f;
    /** e^x for x below this is under half the smallest float: it rounds to +0. */
    private static final float EXP_UNDERFLOW = -104f;
    /**
     * 2^k is built as 2^(k + 64), a normal float for every k down to the underflow (-151), and the
     * product scaled back by 2^-64, which rounds it once into the subnormals where it belongs.
     */
    private static final int EXP_SCALE = 64;
    private static final float EXP_UNSCALE = Math.scalb(1f, -EXP_SCALE);

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
    /** min(topK, vocabulary), or the vocabulary without a top-k. */
    private final int keepAtMost;
    /** The lowest histogrammed bucket: the counts below it are incomplete. */
    private int histogramFloor;
    /** Tokens histogrammed into buckets at or above {@link #histogramFloor}. */
    private int histogramFloorCount;
    /** The softmax's per-lane partial sums, added up in lane order. */
    private final double[] laneSums = new double[F.length()];

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
        this.keepAtMost = params.topK() > 0 ? Math.min(params.topK(), vocabSize) : vocabSize;
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

    /** The greedy token of the logits row at {@code off} (argmax, ties to the lowest index), failing as {@link #requireFinite} does. */
    public static int greedy(float[] logits, int off, int n) {
        int token = argmax(logits, off, n);
        requireFinite(logits, off, token);
        return token;
    }

    /** The next token for the logits row at {@code off}; {@code history} feeds the repetition penalty. */
    public int sample(float[] logits, int off, int[] history, int historyLength) {
        if (params.isGreedy() && params.repetitionPenalty() == 1f) return greedy(logits, off, probs.length);
        float[] p = distribution(logits, off, history, historyLength);
        int token = params.isGreedy() ? argmax(p, 0, p.length) : ranked != null ? drawKept() : draw(p);
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
        // The softmax reads the logits in place unless the penalty changes some of them.
        float[] values = logits;
        int valuesOff = off;
        if (params.repetitionPenalty() != 1f) {
            System.arraycopy(logits, off, probs, 0, n);
            values = probs;
            valuesOff = 0;
            for (int h = 0; h < historyLength; h++) {
                int id = history[h];
                if (id >= 0 && id < n && !Float.isNaN(probs[id])) {
                    float v = logits[off + id];
                    probs[id] = v > 0 ? v / params.repetitionPenalty() : v * params.repetitionPenalty();
                }
            }
        }
        float norm = (float) exponentiate(values, valuesOff, max(values, valuesOff, n), invT);
        normalize(norm);
        if (ranked != null) {
            histogram(norm);
            truncateTail(norm);
        }
        return probs;
    }

    /** The largest of values[off, off + n), by Math.max: NaN if there is one. */
    private static float max(float[] values, int off, int n) {
        // Four accumulators: a lane max that propagates NaN takes several instructions, and one
        // chain of them would wait on itself.
        FloatVector m0 = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY), m1 = m0, m2 = m0, m3 = m0;
        int L = F.length();
        int i = 0;
        for (; i + 4 * L <= n; i += 4 * L) {
            m0 = m0.max(FloatVector.fromArray(F, values, off + i));
            m1 = m1.max(FloatVector.fromArray(F, values, off + i + L));
            m2 = m2.max(FloatVector.fromArray(F, values, off + i + 2 * L));
            m3 = m3.max(FloatVector.fromArray(F, values, off + i + 3 * L));
        }
        for (; i + L <= n; i += L) m0 = m0.max(FloatVector.fromArray(F, values, off + i));
        float max = m0.max(m1).max(m2.max(m3)).reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) max = Math.max(max, values[off + i]);
        return max;
    }

    /**
     * probs[i] = e^((values[off + i] - max) * invT) for the whole vocabulary; returns their sum,
     * in a fixed order: lane by lane, each two vectors' exps added as floats (one rounding, as
     * much as the float normalization adds anyway), accumulated in doubles, then the lanes in order.
     */
    private double exponentiate(float[] values, int off, float max, float invT) {
        int n = probs.length;
        int L = F.length();
        DoubleVector lowLanes = DoubleVector.zero(D), highLanes = DoubleVector.zero(D);
        int i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            FloatVector e0 = exp(FloatVector.fromArray(F, values, off + i).sub(max).mul(invT));
            FloatVector e1 = exp(FloatVector.fromArray(F, values, off + i + L).sub(max).mul(invT));
            e0.intoArray(probs, i);
            e1.intoArray(probs, i + L);
            // Widening to doubles costs about as much as the exp: once per two vectors.
            FloatVector pair = e0.add(e1);
            lowLanes = lowLanes.add(pair.convertShape(VectorOperators.F2D, D, 0));
            highLanes = highLanes.add(pair.convertShape(VectorOperators.F2D, D, 1));
        }
        for (; i < n; i += L) {
            // The last vector or two, masked past the vocabulary's end: the same exp for every token.
            var inRange = F.indexInRange(i, n);
            FloatVector e = exp(FloatVector.fromArray(F, values, off + i, inRange).sub(max).mul(invT));
            e = FloatVector.zero(F).blend(e, inRange);
            e.intoArray(probs, i, inRange);
            lowLanes = lowLanes.add(e.convertShape(VectorOperators.F2D, D, 0));
            highLanes = highLanes.add(e.convertShape(VectorOperators.F2D, D, 1));
        }
        lowLanes.intoArray(laneSums, 0);
        highLanes.intoArray(laneSums, D.length());
        double sum = 0;
        for (double laneSum : laneSums) sum += laneSum;
        return sum;
    }

    /**
     * e^x lane by lane, for x <= 0 (the softmax's arguments) or NaN: under 1 ulp from the exact
     * value for every float in [-104, 0] (checked exhaustively: at most 0.94 ulp), though not
     * monotone in the last bit everywhere. Made of bit-for-bit defined lane operations only (fma,
     * add, multiply, max, shifts), so interpreted, C1- and C2-compiled code give the same bits.
     * lanewise(EXP) does not: compiled, it calls the JDK's native vector math library; before
     * that, Math.exp per lane; the two differ in the last bit for about 1% of arguments, which
     * would make the first tokens of a process sample differently from later ones.
     */
    static FloatVector exp(FloatVector x) {
        // The clamp also takes -inf to +0; NaN passes (max is Math.max's, NaN wins) and stays NaN.
        x = x.max(EXP_UNDERFLOW);
        FloatVector rounded = x.lanewise(VectorOperators.FMA, LOG2_E, ROUND_TO_INT);
        FloatVector k = rounded.sub(ROUND_TO_INT);
        FloatVector r = k.lanewise(VectorOperators.FMA, -LN2_LO, k.mul(-LN2_HI).add(x));
        FloatVector p = r.lanewise(VectorOperators.FMA, 1f / 5040, 1f / 720);
        p = p.lanewise(VectorOperators.FMA, r, 1f / 120);
        p = p.lanewise(VectorOperators.FMA, r, 1f / 24);
        p = p.lanewise(VectorOperators.FMA, r, 1f / 6);
        p = p.lanewise(VectorOperators.FMA, r, 0.5f);
        p = p.lanewise(VectorOperators.FMA, r, 1f);
        p = p.lanewise(VectorOperators.FMA, r, 1f);
        // rounded's bits are ROUND_TO_INT's plus k: shifted into the exponent field, 2^(k + EXP_SCALE).
        IntVector biased = rounded.reinterpretAsInts().sub(Float.floatToRawIntBits(ROUND_TO_INT) - 127 - EXP_SCALE);
        FloatVector twoToK = biased.lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(twoToK).mul(EXP_UNSCALE);
    }

    /** probs /= norm, the softmax's normalization. */
    private void normalize(float norm) {
        int n = probs.length;
        int i = 0;
        for (; i < F.loopBound(n); i += F.length()) FloatVector.fromArray(F, probs, i).div(norm).intoArray(probs, i);
        for (; i < n; i++) probs[i] /= norm;
    }

    /**
     * Histograms the probabilities from a floor up for the tail cut: a compare per vector, and
     * scalar work only for the tokens above the floor.
     */
    private void histogram(float norm) {
        int n = probs.length;
        Arrays.fill(bucketCount, 0);
        Arrays.fill(bucketMass, 0);
        histogramFloorCount = 0;
        histogramFloor = bucketOf((float) ((1.0 - params.topP()) / (2.0 * n)));
        // NaN (norm, and then every probability) compares false: nothing is histogrammed, and
        // truncateTail deals with it apart.
        if (params.topP() < 1f && !Float.isNaN(norm)) {
            // The most probable token's exp is 1: no probability is in a bucket above 1 / norm's.
            histogramFloor = massFloor(histogramFloor, bucketOf(1f / norm) + 1);
        }
        int i = 0;
        for (; i < F.loopBound(n); i += F.length()) {
            long high = FloatVector.fromArray(F, probs, i).compare(VectorOperators.GE, floorOf(histogramFloor)).toLong();
            for (; high != 0; high &= high - 1) count(i + Long.numberOfTrailingZeros(high));
        }
        for (; i < n; i++) {
            if (probs[i] >= floorOf(histogramFloor)) count(i);
        }
    }

    /**
     * For top-p: a bucket a few below the one where the mass, summed from the top, reaches topP.
     * A four-way search between {@code low} (with that mass at or above its floor) and {@code high}
     * (with none), each step a branch-free vector pass summing the probabilities at or above three
     * floors. It only decides where the histogram starts (the cut is exact wherever that is), so
     * the sums are per-lane floats reduced in any order, and one within MASS_MARGIN of topP counts
     * as short of it: an error in them errs toward starting lower.
     */
    private int massFloor(int low, int high) {
        int n = probs.length;
        float enough = params.topP() + MASS_MARGIN;
        while (high - low > SEARCH_WIDTH) {
            int b1 = low + (high - low) / 4, b2 = low + (high - low) / 2, b3 = high - (high - low) / 4;
            float f1 = floorOf(b1), f2 = floorOf(b2), f3 = floorOf(b3);
            FloatVector m1 = FloatVector.zero(F), m2 = m1, m3 = m1;
            int i = 0;
            for (; i < F.loopBound(n); i += F.length()) {
                FloatVector p = FloatVector.fromArray(F, probs, i);
                m1 = m1.add(p, p.compare(VectorOperators.GE, f1));
                m2 = m2.add(p, p.compare(VectorOperators.GE, f2));
                m3 = m3.add(p, p.compare(VectorOperators.GE, f3));
            }
            float s1 = m1.reduceLanes(VectorOperators.ADD), s2 = m2.reduceLanes(VectorOperators.ADD), s3 = m3.reduceLanes(VectorOperators.ADD);
            for (; i < n; i++) {
                float p = probs[i];
                if (p >= f1) s1 += p;
                if (p >= f2) s2 += p;
                if (p >= f3) s3 += p;
            }
            if (s3 >= enough) {
                low = b3;
            } else if (s2 >= enough) {
                low = b2;
                high = b3;
            } else if (s1 >= enough) {
                low = b1;
                high = b2;
            } else {
                high = b1;
            }
        }
        return low;
    }

    /** Counts token {@code id} into its bucket, if that is at or above the floor; raises the floor for top-k. */
    private void count(int id) {
        float p = probs[id];
        int b = bucketOf(p);
        if (b < histogramFloor) return; // the floor rose since the vector was compared
        bucketCount[b]++;
        bucketMass[b] += p;
        histogramFloorCount++;
        // Once the buckets above the floor hold keepAtMost tokens, none in the floor's bucket is kept.
        while (histogramFloorCount - bucketCount[histogramFloor] >= keepAtMost) {
            histogramFloorCount -= bucketCount[histogramFloor];
            histogramFloor++;
        }
    }

    /** The bucket of a probability (+0 up to 1). */
    private static int bucketOf(float p) {
        return Float.floatToIntBits(p) >>> BUCKET_SHIFT;
    }

    /** A bucket's lowest probability. */
    private static float floorOf(int bucket) {
        return Float.intBitsToFloat(bucket << BUCKET_SHIFT);
    }

    /**
     * Zeroes everything outside top-k / top-p and renormalizes, exactly as if the whole vocabulary
     * were sorted by rank: keep the first min(topK, n) tokens, or fewer, up to the first whose
     * cumulative probability (a double, summed in rank order) reaches topP; divide the kept ones by
     * their sum (a double, in rank order). {@code norm} is the softmax's sum of exps.
     */
    private void truncateTail(float norm) {
        int n = probs.length;
        float topP = params.topP();
        if (Float.isNaN(norm)) {
            // A NaN exp (an infinite logit, or a temperature so small that 1/T overflows) makes
            // every probability NaN: all tie, so the rank order is the id order, and no sum reaches topP.
            for (int i = 0; i < n; i++) probs[i] = i < keepAtMost ? Float.NaN : 0f;
            keptCount = 0; // draw() skips NaN: nothing to walk
            return;
        }
        // Rank the tokens from the top down in chunks, each the tokens with a probability in
        // [floor, previous floor). A floor is a bucket's lowest probability, at the bucket where, by
        // the histogram, the count reaches keepAtMost (exact: the chunk holds at least those
        // tokens) or the mass reaches topP (an estimate: summed in another order it can round the
        // other way; then the next chunk, one bucket further down, continues the exact sum).
        int rankedCount = 0;
        int keep = -1;
        double cumulative = 0;
        long histogramCount = 0;
        double histogramMass = 0;
        int bucket = BUCKETS;
        float ceiling = Float.POSITIVE_INFINITY;
        while (keep < 0) {
            boolean found = false;
            while (bucket > histogramFloor) {
                bucket--;
                histogramCount += bucketCount[bucket];
                histogramMass += bucketMass[bucket];
                if (bucketCount[bucket] > 0 && (histogramCount >= keepAtMost || histogramMass >= topP)) {
                    found = true;
                    break;
                }
            }
            // Below the histogram's floor the counts are incomplete: the last chunk takes every token left.
            float floor = found ? floorOf(bucket) : 0f;
            int chunkStart = rankedCount;
            rankedCount = gather(floor, ceiling, rankedCount);
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
     * Appends the rank keys of the tokens with a probability in [floor, ceiling) to ranked from
     * {@code at}, in ascending id order; returns the new end.
     */
    private int gather(float floor, float ceiling, int at) {
        int n = probs.length;
        int i = 0;
        for (; i < F.loopBound(n); i += F.length()) {
            FloatVector p = FloatVector.fromArray(F, probs, i);
            long inChunk = p.compare(VectorOperators.GE, floor).and(p.compare(VectorOperators.LT, ceiling)).toLong();
            for (; inChunk != 0; inChunk &= inChunk - 1) {
                int id = i + Long.numberOfTrailingZeros(inChunk);
                ranked[at++] = rankKey(probs[id], id);
            }
        }
        for (; i < n; i++) {
            float p = probs[i];
            if (p >= floor && p < ceiling) ranked[at++] = rankKey(p, i);
        }
        return at;
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
