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
import io.ppsd.runtime.testing.Distributions;
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
            Distributions.assertChiSquare(counts, expected, "trial " + trial);
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
            double[] exact;
            try (var whole = new CpuStageExecutor(files, StageSpec.whole(model.layers()), 1, LoadProgress.NONE)) {
                exact = Distributions.secondTokenMarginal(whole, prompt);
            }
            var stages = StagePlan.forExitLayer(model.layers(), 2).open("linear-l2", spec -> new CpuStageExecutor(files, spec, 1, LoadProgress.NONE));
            try (var pipeline = new InProcessPipeline(stages, 8, InProcessPipeline.Chaos.NONE)) {
                Distributions.assertSecondTokenDistribution(Distributions.sampleSecondToken(pipeline, prompt, 3000, 1000, v), exact, "second token");
            } finally {
                stages.forEach(StageExecutor::close);
            }
        }
    }

    private static float[] randomDistribution(SplittableRandom r, int v) {
        float[] p = new float[v];
        float sum = 0;
        for (int i = 0; i < v; i++) sum += p[i] = (float) Math.pow(r.nextDouble(), 2) + 0.01f;
        for (int i = 0; i < v; i++) p[i] /= sum;
        return p;
    }
}
