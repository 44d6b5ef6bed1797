package io.ppsd.runtime.decode;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.StageSpec;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Samplers are seeded and reproducible, cut the tail as asked, and generation stops where it should. */
class SamplingAndStopTest {
    @TempDir
    Path tmp;

    @Test
    void topKTopPAndPenaltyShapeTheDistribution() {
        float[] logits = {2f, 1f, 0.5f, 0f, -1f};
        var topK = new Sampler(new SamplingParams(1f, 2, 1f, 1f, 1), 5).distribution(logits, 0, new int[0], 0);
        assertEquals(0f, topK[2] + topK[3] + topK[4]);
        assertEquals(1f, topK[0] + topK[1], 1e-6f);
        var topP = new Sampler(new SamplingParams(1f, 0, 0.5f, 1f, 1), 5).distribution(logits, 0, new int[0], 0);
        assertEquals(1f, topP[0], 1e-6f); // p(0) ≈ 0.56 already reaches 0.5
        var penalized = new Sampler(new SamplingParams(1f, 0, 1f, 4f, 1), 5).distribution(logits, 0, new int[] {0}, 1);
        var plain = new Sampler(new SamplingParams(1f, 0, 1f, 1f, 1), 5).distribution(logits, 0, new int[] {0}, 1);
        assertTrue(penalized[0] < plain[0]);
        assertEquals(3, Sampler.argmax(new float[] {1, 2, 3, 3}, 0, 4) + 1, "ties go to the lowest id");
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(-1f, 0, 1f, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1f, 0, 0f, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1f, -1, 1f, 1f, 0));
    }

    @Test
    void seededSamplingIsReproducibleAndStopsOnTokensAndStrings() {
        var model = RandomModel.small(2);
        Path dir = model.write(tmp.resolve("m"), 2, 1f);
        try (var files = ModelFiles.open(dir);
             var exec = new CpuStageExecutor(files, StageSpec.whole(model.layers()), 1, LoadProgress.NONE)) {
            var ar = new AutoregressiveDecoder(exec);
            int[] prompt = model.prompt(1, 4);
            var sampled = new GenerationRequest(prompt, 30, new SamplingParams(1.2f, 20, 0.95f, 1.1f, 77), null, List.of(), null);
            int[] a = ar.generate(sampled, TokenListener.NONE).generated();
            int[] b = ar.generate(sampled, TokenListener.NONE).generated();
            assertArrayEquals(a, b, "same seed, same tokens");
            var other = new GenerationRequest(prompt, 30, new SamplingParams(1.2f, 20, 0.95f, 1.1f, 78), null, List.of(), null);
            assertNotEquals(List.of(a), List.of(ar.generate(other, TokenListener.NONE).generated()));

            // Stop on a token: the stop token is not part of the output.
            int[] greedy = ar.generate(GenerationRequest.greedy(prompt, 20), TokenListener.NONE).generated();
            var stopAt = GenerationRequest.greedy(prompt, 20, greedy[5]);
            var r = ar.generate(stopAt, TokenListener.NONE);
            int firstStop = 0;
            while (greedy[firstStop] != greedy[5]) firstStop++;
            assertEquals(StopReason.EOS, r.stopReason());
            assertArrayEquals(java.util.Arrays.copyOf(greedy, firstStop), r.generated());

            // Stop on a string: each token's text is its id in brackets.
            String target = "[" + greedy[3] + "]";
            var byString = new GenerationRequest(prompt, 20, SamplingParams.greedy(), null, List.of(target), () -> t -> "[" + t + "]");
            var s = ar.generate(byString, TokenListener.NONE);
            assertEquals(StopReason.STOP_STRING, s.stopReason());
            assertTrue(s.generated().length <= 4);

            // The context bounds generation.
            var full = ar.generate(GenerationRequest.greedy(model.prompt(2, 250), 100), TokenListener.NONE);
            assertEquals(StopReason.CONTEXT_FULL, full.stopReason());
            assertEquals(6, full.generated().length);
            assertThrows(IllegalArgumentException.class, () -> ar.generate(GenerationRequest.greedy(model.prompt(3, 256), 1), TokenListener.NONE));
            assertThrows(IllegalArgumentException.class, () -> ar.generate(GenerationRequest.greedy(new int[] {1, 64}, 1), TokenListener.NONE));
        }
    }
}
