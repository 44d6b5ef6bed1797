package io.ppsd.runtime.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.stage.StageExecutor;
import java.util.Arrays;

/** Exact next-token distributions of a whole-model stage in float64, and a chi-square check against them. */
public final class Distributions {
    private Distributions() {}

    /** What {@link #sampleSecondToken} saw: how often each token came second, and the drafts checked and kept. */
    public record SecondTokens(long[] counts, long accepted, long verified) {}

    /**
     * {@code n} sampled generations (temperature 1, seeds {@code seed0 + i}) of two tokens after
     * {@code prompt}: the counts of the second token, to hold against {@link #secondTokenMarginal}.
     */
    public static SecondTokens sampleSecondToken(io.ppsd.runtime.decode.Decoder decoder, int[] prompt, int n, long seed0, int vocab) {
        long[] counts = new long[vocab];
        long accepted = 0, verified = 0;
        for (int s = 0; s < n; s++) {
            var request = new io.ppsd.runtime.decode.GenerationRequest(prompt, 2, io.ppsd.runtime.decode.SamplingParams.temperature(1f, seed0 + s),
                    null, java.util.List.of(), null);
            var r = decoder.generate(request, io.ppsd.runtime.decode.TokenListener.NONE);
            counts[r.generated()[1]]++;
            accepted += r.speculation().draftsAccepted();
            verified += r.speculation().draftsVerified();
        }
        return new SecondTokens(counts, accepted, verified);
    }

    /** Chi-square of sampled second tokens against the exact marginal, and both verdicts seen. */
    public static void assertSecondTokenDistribution(SecondTokens sampled, double[] exact, String what) {
        long n = Arrays.stream(sampled.counts()).sum();
        double[] expected = new double[exact.length];
        for (int i = 0; i < exact.length; i++) expected[i] = exact[i] * n;
        assertChiSquare(sampled.counts(), expected, what);
        assertTrue(sampled.accepted() > 0 && sampled.accepted() < sampled.verified(), what + ": both verdicts must occur: "
                + sampled.accepted() + "/" + sampled.verified());
    }

    /** The exact marginal of the second generated token: Σ over t1 of q(t1 | prompt) q(t2 | prompt, t1). */
    public static double[] secondTokenMarginal(StageExecutor whole, int[] prompt) {
        int v = whole.config().vocabSize();
        double[] exact = new double[v];
        double[] q1 = next(whole, prompt);
        for (int t1 = 0; t1 < v; t1++) {
            int[] extended = Arrays.copyOf(prompt, prompt.length + 1);
            extended[prompt.length] = t1;
            double[] q2 = next(whole, extended);
            for (int t2 = 0; t2 < v; t2++) exact[t2] += q1[t1] * q2[t2];
        }
        return exact;
    }

    public static double[] next(StageExecutor whole, int[] tokens) {
        int dim = whole.config().hiddenSize(), v = whole.config().vocabSize();
        long seq = Long.MAX_VALUE;
        float[] h = new float[tokens.length * dim];
        whole.release(seq);
        whole.embed(tokens, 0, tokens.length, h);
        whole.forward(seq, 0, tokens.length, h);
        float[] logits = new float[v];
        whole.logits(Arrays.copyOfRange(h, (tokens.length - 1) * dim, tokens.length * dim), 1, logits);
        whole.release(seq);
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (float x : logits) max = Math.max(max, x);
        double[] p = new double[v];
        for (int i = 0; i < v; i++) sum += p[i] = Math.exp(logits[i] - max);
        for (int i = 0; i < v; i++) p[i] /= sum;
        return p;
    }

    /** Pearson's chi-square against the 99.9% quantile (bins with expectation < 5 merged). */
    public static void assertChiSquare(long[] observed, double[] expected, String what) {
        double chi = 0, pendingO = 0, pendingE = 0;
        int bins = 0;
        for (int i = 0; i < observed.length; i++) {
            pendingO += observed[i];
            pendingE += expected[i];
            if (pendingE >= 5) {
                chi += (pendingO - pendingE) * (pendingO - pendingE) / pendingE;
                bins++;
                pendingO = pendingE = 0;
            }
        }
        if (pendingE > 0) chi += (pendingO - pendingE) * (pendingO - pendingE) / Math.max(pendingE, 1e-9);
        int dof = Math.max(1, bins - 1);
        double[] q999 = {10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88, 29.59};
        double limit = q999[Math.min(dof, q999.length) - 1];
        assertTrue(chi < limit, what + ": chi-square " + chi + " ≥ " + limit + " (dof " + dof + ")");
    }
}
