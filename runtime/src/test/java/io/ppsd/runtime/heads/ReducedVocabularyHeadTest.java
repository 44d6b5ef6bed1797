package io.ppsd.runtime.heads;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.SamplingParams;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.model.ModelFormatException;
import io.ppsd.runtime.ppsd.InProcessPipeline;
import io.ppsd.runtime.simulated.DeviceProfiles;
import io.ppsd.runtime.speculative.StagePlan;
import io.ppsd.runtime.stage.LayerRange;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;
import io.ppsd.runtime.testing.Distributions;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A head drafting over a reduced vocabulary ({@code <head>+v<K>}, FR-Spec's idea): its logits are
 * the full head's at the K listed tokens and −∞ elsewhere, for every head kind; PPSD with it still
 * gives AR's greedy tokens and the model's sampling distribution (the draft distribution used for
 * acceptance is the one drafted from); a simulated device prices its projection at K/V of an LM
 * head; bad frequency files are refused naming the file and what is wrong.
 */
class ReducedVocabularyHeadTest {
    @TempDir
    Path tmp;

    /** The vocabulary in a seeded order, as a frequency list. */
    private static int[] order(int vocab, long seed) {
        var random = new java.util.SplittableRandom(seed);
        int[] ids = IntStream.range(0, vocab).toArray();
        for (int i = vocab - 1; i > 0; i--) {
            int j = random.nextInt(i + 1), x = ids[i];
            ids[i] = ids[j];
            ids[j] = x;
        }
        return ids;
    }

    @Test
    void theReducedHeadIsTheFullHeadAtItsTokensAndMinusInfinityElsewhere() {
        var model = RandomModel.small(31);
        Path dir = model.write(tmp.resolve("m"), 2, 0.5f);
        int[] order = order(model.vocab(), 7);
        DraftVocabulary.write(dir, order, "test");
        int k = 20, v = model.vocab();
        try (var files = ModelFiles.open(dir)) {
            for (String head : List.of("norm", "linear-l2", "transformer-l2")) {
                var range = new LayerRange(0, 2);
                try (var full = new CpuStageExecutor(files, new StageSpec(range, true, false, head), 1, LoadProgress.NONE);
                     var reduced = new CpuStageExecutor(files, new StageSpec(range, true, false, head + "+v" + k), 1, LoadProgress.NONE)) {
                    int[] prompt = model.prompt(3, 9);
                    float[] a = new float[prompt.length * model.hidden()], b = a.clone();
                    full.embed(prompt, 0, prompt.length, a);
                    reduced.embed(prompt, 0, prompt.length, b);
                    full.forward(1, 0, prompt.length, a);
                    reduced.forward(1, 0, prompt.length, b);
                    float[] fa = new float[v], fb = new float[v];
                    full.draft(1, 0, prompt.length, a, fa);
                    reduced.draft(1, 0, prompt.length, b, fb);
                    boolean[] listed = new boolean[v];
                    for (int i = 0; i < k; i++) listed[order[i]] = true;
                    for (int t = 0; t < v; t++) {
                        // Relative: the two heads' dot products may be summed in different orders (interpreted
                        // against compiled vector code: once 1.2e-5 apart at a logit of 7.66); a wrong row is off by ~1.
                        if (listed[t]) assertEquals(fa[t], fb[t], 1e-5f * Math.max(1f, Math.abs(fa[t])), head + " token " + t);
                        else assertEquals(Float.NEGATIVE_INFINITY, fb[t], head + " token " + t + " is not draftable");
                    }
                }
            }
        }
    }

    @Test
    void ppsdWithAReducedHeadKeepsArsGreedyTokensAndTheModelsDistribution() {
        var model = new RandomModel(4, 16, 2, 1, 24, 8, 64, 21);
        Path dir = model.write(tmp.resolve("s"), 2, 1f);
        DraftVocabulary.write(dir, order(model.vocab(), 3), "test");
        int[] prompt = {3, 5, 2};
        int v = model.vocab();
        try (var files = ModelFiles.open(dir)) {
            double[] exact;
            int[] greedy;
            try (var whole = new CpuStageExecutor(files, StageSpec.whole(model.layers()), 1, LoadProgress.NONE)) {
                exact = Distributions.secondTokenMarginal(whole, prompt);
                greedy = new AutoregressiveDecoder(whole).generate(GenerationRequest.greedy(prompt, 20), TokenListener.NONE).generated();
            }
            // 5 of the 8 tokens: some drafts cannot be the model's token, so the residual covers the rest.
            var stages = StagePlan.forExitLayer(model.layers(), 2).open("linear-l2+v5", spec -> new CpuStageExecutor(files, spec, 1, LoadProgress.NONE));
            try (var pipeline = new InProcessPipeline(stages, 8, InProcessPipeline.Chaos.NONE)) {
                assertArrayEquals(greedy, pipeline.generate(GenerationRequest.greedy(prompt, 20), TokenListener.NONE).generated());
                Distributions.assertSecondTokenDistribution(Distributions.sampleSecondToken(pipeline, prompt, 3000, 4000, v), exact,
                        "second token, reduced-vocabulary head");
            } finally {
                stages.forEach(StageExecutor::close);
            }
        }
    }

    @Test
    void aSimulatedDevicePricesTheProjectionAtItsShareOfTheVocabulary() {
        var profile = DeviceProfiles.load().defaultOne();
        long full = profile.draftNanos(ExitHeadKind.NORM, 1, 1), quarter = profile.draftNanos(ExitHeadKind.NORM, 1, 1, 0.25);
        long overhead = profile.draftNanos(ExitHeadKind.NORM, 1, 1, 1e-9);
        assertEquals(0.25, (double) (quarter - overhead) / (full - overhead), 0.01, "the projection part scales with the vocabulary share");
    }

    @Test
    void badFrequencyListsAndSizesAreRefusedClearly() throws Exception {
        var model = RandomModel.small(5);
        Path dir = model.write(tmp.resolve("b"), 2, 0.5f);
        var config = io.ppsd.runtime.model.ModelConfig.read(dir.resolve("config.json"));
        var missing = assertThrows(ModelFormatException.class, () -> DraftVocabulary.read(dir, 8, config));
        assertTrue(missing.getMessage().contains("token_frequencies.json") && missing.getMessage().contains("missing"), missing.getMessage());
        Path file = dir.resolve(DraftVocabulary.FILE);
        for (var c : List.of(
                new String[] {"{\"format_version\": 1, \"token_ids\": [3, 4, 3, 5, 6, 7, 8, 9, 10]}", "listed twice"},
                new String[] {"{\"format_version\": 1, \"token_ids\": [3, 4, 64, 5, 6, 7, 8, 9]}", "not a token id"},
                new String[] {"{\"format_version\": 1, \"token_ids\": [3, 4]}", "fewer than the 8"},
                new String[] {"{\"format_version\": 2, \"token_ids\": []}", "format_version"},
                new String[] {"{\"format_version\": 1, \"token_ids\": [1,2,3,4,5,6,7,8], \"extra\": 1}", "unknown keys"},
                new String[] {"[1, 2]", "JSON object"},
                new String[] {"{\"format_version\": 1, \"token_ids\": [1,2,3,4,5,6,7,8], \"counts\": [1]}", "'counts'"})) {
            Files.writeString(file, c[0]);
            var e = assertThrows(ModelFormatException.class, () -> DraftVocabulary.read(dir, 8, config), c[0]);
            assertTrue(e.getMessage().contains(c[1]) && e.getMessage().contains("token_frequencies.json"), e.getMessage());
        }
        DraftVocabulary.write(dir, order(model.vocab(), 1), "test");
        var tooMany = assertThrows(IllegalArgumentException.class, () -> DraftVocabulary.read(dir, 65, config));
        assertTrue(tooMany.getMessage().contains("1 to 64"), tooMany.getMessage());
        // Through the head's name, at plan time: the exit layer of the base head, the file checked.
        assertEquals(2, ExitHeadFile.resolveExitLayer(dir, config, "transformer-l2+v16", null));
        assertEquals("transformer-l2", ExitHeadFile.baseName("transformer-l2+v16"));
        assertEquals(0, ExitHeadFile.reducedVocabulary("transformer-l2"));
        assertThrows(IllegalArgumentException.class, () -> ExitHeadFile.resolveExitLayer(dir, config, "norm+v0", 2));
    }
}
