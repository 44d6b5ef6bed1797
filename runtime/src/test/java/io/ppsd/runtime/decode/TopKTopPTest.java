package io.ppsd.runtime.decode;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The sampler's top-k / top-p cut (histogram, then a sort of the tokens near the top) keeps
 * exactly the tokens, with exactly the probabilities, that sorting the whole vocabulary keeps.
 * The reference cuts the sampler's own softmax (that of a sampler without a cut): the softmax
 * itself is {@link SoftmaxTest}'s subject.
 */
class TopKTopPTest {
    @Test
    void distributionMatchesSortingTheWholeVocabulary() {
        var r = new SplittableRandom(20240611);
        for (int config = 0; config < 600; config++) {
            int n = vocabSize(r, config);
            var params = new SamplingParams(temperature(r), topK(r, n), topP(r), repetitionPenalty(r), config);
            // One sampler for several rows: its buffers are reused, nothing of a row may leak into the next.
            var sampler = new Sampler(params, n);
            for (int row = 0; row < 4; row++) {
                int off = r.nextInt(3);
                float[] logits = new float[off + n];
                fillLogits(r, logits, off, n);
                int[] history = history(r, n);
                float[] expected = referenceDistribution(params, logits, off, n, history, history.length);
                float[] actual = sampler.distribution(logits, off, history, history.length);
                int c = config, w = row;
                assertArrayEquals(expected, actual, () -> "config " + c + " row " + w + ": " + params + ", vocab " + n);
            }
        }
    }

    /** At a real vocabulary size (Llama 3), with the benchmark's kind of logits and flat ones. */
    @Test
    void distributionMatchesSortingTheWholeVocabularyAt128k() {
        int n = 128256;
        var r = new SplittableRandom(128);
        float[] peaked = new float[n];
        for (int i = 0; i < n; i++) peaked[i] = (float) (r.nextGaussian() * 2.5);
        for (int j = 0; j < 16; j++) peaked[r.nextInt(n)] = (float) (10 + r.nextGaussian() * 2);
        float[] flat = new float[n];
        for (int i = 0; i < n; i++) flat[i] = (float) (r.nextGaussian() * 0.05);
        for (var params : new SamplingParams[] {
                new SamplingParams(0.8f, 50, 1f, 1f, 1), new SamplingParams(0.8f, 0, 0.9f, 1.2f, 2),
                new SamplingParams(0.8f, 40, 0.95f, 1f, 3)}) {
            var sampler = new Sampler(params, n);
            for (float[] logits : List.of(peaked, flat)) {
                int[] history = {17, 4000, 128000};
                assertArrayEquals(referenceDistribution(params, logits, 0, n, history, 3), sampler.distribution(logits, 0, history, 3), params::toString);
            }
        }
    }

    /** sample() draws over the kept tokens only; it must draw the token drawing from the whole vector draws. */
    @Test
    void sampleDrawsWhatDrawingFromTheWholeDistributionDraws() {
        var r = new SplittableRandom(99);
        for (int config = 0; config < 300; config++) {
            int n = vocabSize(r, config);
            var params = new SamplingParams(temperature(r), topK(r, n), topP(r), repetitionPenalty(r), config);
            var sampler = new Sampler(params, n);
            var referenceRandom = new SplittableRandom(params.seed());
            for (int step = 0; step < 10; step++) {
                float[] logits = new float[n];
                fillLogits(r, logits, 0, n);
                int[] history = history(r, n);
                int expected;
                if (params.isGreedy() && params.repetitionPenalty() == 1f) {
                    expected = Sampler.argmax(logits, 0, n);
                } else {
                    float[] p = referenceDistribution(params, logits, 0, n, history, history.length);
                    expected = params.isGreedy() ? Sampler.argmax(p, 0, n) : referenceDraw(p, referenceRandom.nextDouble());
                }
                int c = config, s = step;
                assertEquals(expected, sampler.sample(logits, 0, history, history.length), () -> "config " + c + " step " + s + ": " + params + ", vocab " + n);
            }
        }
    }

    /** top-p set right at a cumulative sum of the rank order, or one float either side of it. */
    @Test
    void cutsAtCumulativeBoundariesLikeSortingTheWholeVocabulary() {
        var r = new SplittableRandom(7);
        for (int trial = 0; trial < 400; trial++) {
            int n = 1 + r.nextInt(trial % 2 == 0 ? 60 : 3000);
            float[] logits = new float[n];
            fillLogits(r, logits, 0, n);
            float temperature = 0.5f + r.nextFloat();
            float[] plain = referenceDistribution(new SamplingParams(temperature, 0, 1f, 1f, 0), logits, 0, n, new int[0], 0);
            Integer[] order = rankOrder(plain);
            int at = r.nextInt(n);
            double cumulative = 0;
            for (int i = 0; i <= at; i++) cumulative += plain[order[i]];
            float topP = (float) Math.min(1.0, cumulative);
            topP = switch (trial % 3) {
                case 0 -> topP;
                case 1 -> Math.nextUp(topP);
                default -> Math.nextDown(topP);
            };
            if (!(topP > 0 && topP <= 1)) continue;
            int topK = trial % 5 == 0 ? 1 + r.nextInt(n) : 0;
            var params = new SamplingParams(temperature, topK, topP, 1f, trial);
            float[] expected = referenceDistribution(params, logits, 0, n, new int[0], 0);
            float[] actual = new Sampler(params, n).distribution(logits, 0, new int[0], 0);
            int t = trial;
            assertArrayEquals(expected, actual, () -> "trial " + t + ": " + params + ", vocab " + n);
        }
    }

    @Test
    void degenerateLogitsMatchSortingTheWholeVocabulary() {
        int n = 300;
        float[] allEqual = new float[n];
        float[] oneInfinite = new float[n];
        oneInfinite[17] = Float.POSITIVE_INFINITY;
        float[] allMasked = new float[n];
        Arrays.fill(allMasked, Float.NEGATIVE_INFINITY);
        float[] hugeSpread = new float[n];
        for (int i = 0; i < n; i++) hugeSpread[i] = (i % 7) * 40f;
        float[] nanEarly = new float[n];
        nanEarly[5] = Float.NaN;
        float[] nanLast = new float[n];
        nanLast[n - 1] = Float.NaN;
        for (float[] logits : new float[][] {allEqual, oneInfinite, allMasked, hugeSpread, nanEarly, nanLast}) {
            for (var params : new SamplingParams[] {
                    new SamplingParams(1f, 5, 1f, 1f, 0), new SamplingParams(1f, 0, 0.3f, 1f, 0),
                    new SamplingParams(0.7f, 400, 1f, 1f, 0), new SamplingParams(0f, 3, 0.5f, 1.3f, 0),
                    new SamplingParams(0.7f, 0, Math.nextDown(1f), 1f, 0)}) {
                float[] expected = referenceDistribution(params, logits, 0, n, new int[] {17, 3}, 2);
                float[] actual = new Sampler(params, n).distribution(logits, 0, new int[] {17, 3}, 2);
                assertArrayEquals(expected, actual, params::toString);
            }
        }
    }

    @Test
    void distributionAllocatesNothingPerCall() {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        int n = 32000;
        var r = new SplittableRandom(3);
        float[] peaked = new float[n];
        for (int i = 0; i < n; i++) peaked[i] = (float) (r.nextGaussian() * 2.5);
        for (int j = 0; j < 16; j++) peaked[r.nextInt(n)] = (float) (10 + r.nextGaussian() * 2);
        // Nearly flat logits: top-p keeps most of the vocabulary (the radix sort over many chunks of it).
        float[] flat = new float[n];
        for (int i = 0; i < n; i++) flat[i] = (float) (r.nextGaussian() * 0.01);
        int[] history = {5, 77, 31999};
        for (var params : new SamplingParams[] {
                new SamplingParams(0.8f, 50, 1f, 1.1f, 1), new SamplingParams(0.8f, 0, 0.9f, 1f, 2),
                new SamplingParams(0.8f, 40, 0.95f, 1f, 3)}) {
            var sampler = new Sampler(params, n);
            for (int i = 0; i < 300; i++) sampler.sample(i % 2 == 0 ? peaked : flat, 0, history, history.length);
            long before = threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 100; i++) {
                sampler.distribution(i % 2 == 0 ? peaked : flat, 0, history, history.length);
                sampler.sample(peaked, 0, history, history.length);
            }
            long perCall = (threads.getCurrentThreadAllocatedBytes() - before) / 200;
            assertTrue(perCall < 16, params + ": distribution allocated " + perCall + " bytes per call");
        }
    }

    private static int vocabSize(SplittableRandom r, int config) {
        return switch (config % 6) {
            case 0 -> 1 + r.nextInt(5);
            case 1 -> 40 + r.nextInt(20); // around the insertion-sort / radix-sort switch
            case 2 -> 5000;
            default -> 1 + r.nextInt(5000);
        };
    }

    private static float temperature(SplittableRandom r) {
        float[] choices = {0f, 0.05f, 0.8f, 1f, 1.7f, 5f};
        return choices[r.nextInt(choices.length)];
    }

    private static int topK(SplittableRandom r, int n) {
        return switch (r.nextInt(7)) {
            case 0 -> 0;
            case 1 -> 1;
            case 2 -> n;
            case 3 -> n + 1 + r.nextInt(100);
            case 4 -> 1 + r.nextInt(Math.min(n, 60));
            default -> 1 + r.nextInt(n);
        };
    }

    private static float topP(SplittableRandom r) {
        return switch (r.nextInt(8)) {
            case 0 -> 1f;
            case 1 -> 1e-7f;
            case 2 -> Float.MIN_VALUE;
            case 3 -> 0.9f;
            case 4 -> 0.999999f;
            // Often above the probabilities' sum (rounding): the cut's walk gets below the histogram's floor.
            case 5 -> Math.nextDown(1f);
            default -> 1e-3f + 0.999f * r.nextFloat();
        };
    }

    private static float repetitionPenalty(SplittableRandom r) {
        float[] choices = {1f, 1f, 1.1f, 2f, 0.7f};
        return choices[r.nextInt(choices.length)];
    }

    /** Gaussian logits, often quantized to a few values (many ties), sometimes with masked tokens. */
    private static void fillLogits(SplittableRandom r, float[] logits, int off, int n) {
        int style = r.nextInt(5);
        double scale = new double[] {0.01, 1, 2.5, 30}[r.nextInt(4)];
        int levels = 1 + r.nextInt(6);
        for (int i = 0; i < n; i++) {
            double g = r.nextGaussian() * scale;
            logits[off + i] = (float) switch (style) {
                case 0, 1 -> Math.round(g / scale * levels / 2) * scale; // a few distinct values
                case 2 -> r.nextInt(20) == 0 ? 8 + g : g; // a few large ones
                default -> g;
            };
            if (style == 1 && r.nextInt(4) == 0) logits[off + i] = Float.NEGATIVE_INFINITY;
        }
    }

    private static int[] history(SplittableRandom r, int n) {
        int[] h = new int[r.nextInt(8)];
        for (int i = 0; i < h.length; i++) h[i] = r.nextInt(10) == 0 ? n + 3 : r.nextInt(n); // some out of range
        return h;
    }

    /** The sampler's draw over a whole probability vector, with the uniform number given. */
    private static int referenceDraw(float[] p, double u) {
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

    /** Token ids by probability descending, ties to the lower id. */
    private static Integer[] rankOrder(float[] probs) {
        Integer[] order = new Integer[probs.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> {
            int c = Float.compare(probs[b], probs[a]);
            return c != 0 ? c : Integer.compare(a, b);
        });
        return order;
    }

    /** The sampler's softmax, cut the way the sampler did before the histogram: by sorting the whole vocabulary. */
    private static float[] referenceDistribution(SamplingParams params, float[] logits, int off, int n, int[] history, int historyLength) {
        var uncut = new SamplingParams(params.temperature(), 0, 1f, params.repetitionPenalty(), params.seed());
        float[] probs = new Sampler(uncut, n).distribution(logits, off, history, historyLength).clone();
        if (!(params.topP() < 1f || params.topK() > 0)) return probs;
        Integer[] order = rankOrder(probs);
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
        return probs;
    }
}
