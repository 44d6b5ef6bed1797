package io.ppsd.runtime.speculative;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.Sampler;
import io.ppsd.runtime.decode.SamplingParams;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.ppsd.InProcessPipeline;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Speculative sampling must leave the output distribution exactly the full model's. Chi-square
 * tests with fixed seeds (so they are not flaky), at a 0.1% significance level: first the
 * verification rule alone on arbitrary distributions, then PPSD end to end on an 8-token model,
 * comparing the second generated token (the first one that goes through a draft) with its exact
 * marginal computed from the full model.
 */
class LosslessSamplingTest {
    @TempDir
    Path tmp;

    @Test
    void verificationRuleReproducesTheTargetDistribution() {
        int v = 6;
        var random = new SplittableRandom(3);
        for (int trial = 0; trial < 5; trial++) {
            float[] p = randomDistribution(random, v), qLogits = new float[v];
            float[] q = randomDistribution(random, v);
            for (int i = 0; i < v; i++) qLogits[i] = (float) Math.log(q[i]);
            var draftSampler = new Sampler(SamplingParams.temperature(1f, 11 + trial), v);
            var verifier = new Verifier(new Sampler(SamplingParams.temperature(1f, 99 + trial), v), v);
            int n = 40_000;
            long[] counts = new long[v];
            for (int s = 0; s < n; s++) {
                int d = draftSampler.draw(p);
                counts[verifier.verify(d, p, qLogits, 0, new int[0], 0).token()]++;
            }
            double[] expected = new double[v];
            for (int i = 0; i < v; i++) expected[i] = q[i] * n;
            assertChiSquare(counts, expected, "trial " + trial);
        }
    }

    @Test
    void ppsdSamplingKeepsTheModelsDistribution() {
        var model = new RandomModel(4, 16, 2, 1, 24, 8, 64, 21);
        Path dir = model.write(tmp.resolve("m"), 2, 1f);
        int[] prompt = {3, 5, 2};
        int v = model.vocab();
        try (var files = ModelFiles.open(dir)) {
            // Exact marginal of the second token: sum over t1 of q(t1 | prompt) q(t2 | prompt, t1).
            double[] exact = new double[v];
            try (var whole = new CpuStageExecutor(files, StageSpec.whole(model.layers()), 1, LoadProgress.NONE)) {
                double[] q1 = nextDistribution(whole, prompt);
                for (int t1 = 0; t1 < v; t1++) {
                    int[] extended = {prompt[0], prompt[1], prompt[2], t1};
                    double[] q2 = nextDistribution(whole, extended);
                    for (int t2 = 0; t2 < v; t2++) exact[t2] += q1[t1] * q2[t2];
                }
            }
            var stages = StagePlan.forExitLayer(model.layers(), 2).open("linear-l2", spec -> new CpuStageExecutor(files, spec, 1, LoadProgress.NONE));
            try (var pipeline = new InProcessPipeline(stages, 8, InProcessPipeline.Chaos.NONE)) {
                int n = 3000;
                long[] counts = new long[v];
                long accepted = 0, verified = 0;
                for (int s = 0; s < n; s++) {
                    var request = new GenerationRequest(prompt, 2, SamplingParams.temperature(1f, 1000 + s), null, List.of(), null);
                    var r = pipeline.generate(request, TokenListener.NONE);
                    counts[r.generated()[1]]++;
                    accepted += r.speculation().draftsAccepted();
                    verified += r.speculation().draftsVerified();
                }
                for (int i = 0; i < v; i++) exact[i] *= n;
                assertChiSquare(counts, exact, "second token");
                assertTrue(accepted > 0 && accepted < verified, "both verdicts must occur: " + accepted + "/" + verified);
            } finally {
                stages.forEach(StageExecutor::close);
            }
        }
    }

    private static double[] nextDistribution(StageExecutor whole, int[] tokens) {
        int dim = whole.config().hiddenSize(), v = whole.config().vocabSize();
        float[] h = new float[tokens.length * dim];
        whole.release(1);
        whole.embed(tokens, 0, tokens.length, h);
        whole.forward(1, 0, tokens.length, h);
        float[] last = java.util.Arrays.copyOfRange(h, (tokens.length - 1) * dim, tokens.length * dim);
        float[] logits = new float[v];
        whole.logits(last, 1, logits);
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (float x : logits) max = Math.max(max, x);
        double[] p = new double[v];
        for (int i = 0; i < v; i++) sum += p[i] = Math.exp(logits[i] - max);
        for (int i = 0; i < v; i++) p[i] /= sum;
        whole.release(1);
        return p;
    }

    private static float[] randomDistribution(SplittableRandom r, int v) {
        float[] p = new float[v];
        float sum = 0;
        for (int i = 0; i < v; i++) sum += p[i] = (float) Math.pow(r.nextDouble(), 2) + 0.01f;
        for (int i = 0; i < v; i++) p[i] /= sum;
        return p;
    }

    /** Pearson's chi-square against the 99.9% quantile (bins with expectation < 5 merged). */
    private static void assertChiSquare(long[] observed, double[] expected, String what) {
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
