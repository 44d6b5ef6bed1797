package io.ppsd.runtime.pipespec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.SamplingParams;
import io.ppsd.runtime.decode.StopReason;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.ppsd.InProcessPipeline.Chaos;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;
import io.ppsd.runtime.testing.Distributions;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PipeSpec must give the target's own output: greedy, token for token the target's greedy AR
 * output for any hierarchy, window and message timing; sampling, distributed as the target's.
 * The hierarchies are cuts of one random model (the first layers of the target as separate,
 * smaller models), so drafts are neither always right nor always wrong and every path —
 * acceptance, correction, cascaded rollback, stale proposals — runs.
 */
class PipeSpecTest {
    @TempDir
    Path tmp;

    private final OpenedModels models = new OpenedModels();

    @AfterEach
    void close() {
        models.close();
    }

    private ModelLevel level(Path dir, String name) {
        return models.level(dir, name);
    }

    /** A target split into two stages: a level may span several stages (devices). */
    private ModelLevel splitLevel(Path dir, String name, int cut) {
        var files = models.open(dir);
        int n = files.config().numLayers();
        var plan = io.ppsd.runtime.speculative.StagePlan.ofSizes(n, cut, n - cut);
        return new ModelLevel(name, plan.specs(null).stream().map(spec -> models.stage(files, spec)).toList());
    }

    @Test
    void greedyOutputIsTheTargetsForAnyHierarchyWindowAndTiming() {
        var model = new RandomModel(6, 32, 4, 2, 48, 64, 128, 77);
        Path target = model.write(tmp.resolve("target"), 2, 0.35f);
        Path small = model.writeTruncated(tmp.resolve("d1"), 2, 0.35f, 1);
        Path middle = model.writeTruncated(tmp.resolve("d3"), 2, 0.35f, 3);
        List<int[]> prompts = List.of(model.prompt(1, 1), model.prompt(2, 9), model.prompt(3, 50));
        List<int[]> expected = new ArrayList<>();
        var whole = level(target, "target");
        var ar = new AutoregressiveDecoder(whole.stages().getFirst());
        for (int[] p : prompts) expected.add(ar.generate(GenerationRequest.greedy(p, 40), TokenListener.NONE).generated());
        var d1 = level(small, "d1");
        var d3 = level(middle, "d3");
        var split = splitLevel(target, "target-2stages", 4);
        List<List<ModelLevel>> hierarchies = List.of(List.of(d1, whole), List.of(d3, whole), List.of(d1, d3, whole), List.of(d1, d3, split));
        long accepted = 0, verified = 0, corrections = 0;
        int run = 0;
        for (var levels : hierarchies) {
            for (WindowPolicy window : List.of(WindowPolicy.fixed(1), WindowPolicy.fixed(3), WindowPolicy.adaptive(6))) {
                for (int lead : new int[] {1, 2 * window.size()}) {
                    var chaos = run % 2 == 0 ? Chaos.NONE : new Chaos(run, 200, 300);
                    var decoder = new PipeSpecDecoder(levels, window, lead, run % 4 < 2 ? 0 : 1, chaos);
                    for (int i = 0; i < prompts.size(); i++) {
                        var r = decoder.generate(GenerationRequest.greedy(prompts.get(i), 40), TokenListener.NONE);
                        assertArrayEquals(expected.get(i), r.generated(), decoder.describe() + " chaos " + chaos + " prompt " + i);
                        for (var s : decoder.lastLevelStats()) {
                            verified += s.draftsVerified();
                            accepted += s.draftsAccepted();
                            corrections += s.draftsVerified() - s.draftsAccepted();
                        }
                    }
                    run++;
                }
            }
        }
        assertTrue(accepted > 0 && corrections > 0, "both verdicts must occur: " + accepted + "/" + verified);
    }

    @Test
    void anUnrelatedDraftModelIsAlmostAlwaysWrongAndTheOutputIsStillTheTargets() {
        // Another random model with the same vocabulary: its drafts are right about 1 time in 64.
        var target = new RandomModel(4, 32, 4, 2, 48, 64, 128, 61);
        var other = new RandomModel(2, 32, 4, 2, 48, 64, 128, 62);
        var whole = level(target.write(tmp.resolve("t"), 2, 1f), "target");
        var stranger = level(other.write(tmp.resolve("o"), 1, 1f), "stranger");
        var ar = new AutoregressiveDecoder(whole.stages().getFirst());
        long verified = 0, accepted = 0;
        for (int waits = 0; waits <= 1; waits++) {
            var decoder = new PipeSpecDecoder(List.of(stranger, whole), WindowPolicy.fixed(3), 6, waits, new Chaos(waits + 3, 200, 200));
            for (int i = 0; i < 3; i++) {
                int[] prompt = target.prompt(40 + i, 2 + 7 * i);
                var r = decoder.generate(GenerationRequest.greedy(prompt, 30), TokenListener.NONE);
                assertArrayEquals(ar.generate(GenerationRequest.greedy(prompt, 30), TokenListener.NONE).generated(), r.generated());
                verified += r.speculation().draftsVerified();
                accepted += r.speculation().draftsAccepted();
            }
        }
        assertTrue(verified > 50 && accepted < 0.2 * verified, "drafts must be mostly wrong: " + accepted + "/" + verified);
    }

    @Test
    void aDraftThatAlwaysAgreesIsAlwaysAccepted() {
        var model = new RandomModel(4, 32, 4, 2, 48, 64, 128, 5);
        Path target = model.write(tmp.resolve("target"), 2, 0f);
        Path draft = model.writeTruncated(tmp.resolve("draft"), 2, 0f, 2);
        // The target waits for drafts (here it costs about what the draft does and would otherwise run ahead alone).
        var decoder = new PipeSpecDecoder(List.of(level(draft, "draft"), level(target, "target")), WindowPolicy.fixed(4), 8, 1, Chaos.NONE);
        var r = decoder.generate(GenerationRequest.greedy(model.prompt(4, 6), 30), TokenListener.NONE);
        assertEquals(30, r.generated().length);
        assertEquals(StopReason.MAX_TOKENS, r.stopReason());
        assertEquals(r.speculation().draftsVerified(), r.speculation().draftsAccepted(), "identity late layers: every draft is right");
        assertTrue(r.speculation().tokensPerStep() > 1.5, "windows must be accepted whole: " + r.speculation());
    }

    @Test
    void stopsAtTheContextAndAtTheStopTokenLikeAutoregressiveDecoding() {
        var model = new RandomModel(4, 32, 4, 2, 48, 64, 40, 8);
        Path target = model.write(tmp.resolve("target"), 2, 0.3f);
        Path draft = model.writeTruncated(tmp.resolve("draft"), 2, 0.3f, 1);
        var whole = level(target, "target");
        var ar = new AutoregressiveDecoder(whole.stages().getFirst());
        var decoder = new PipeSpecDecoder(List.of(level(draft, "draft"), whole), WindowPolicy.fixed(3), 6, Chaos.NONE);
        int[] prompt = model.prompt(9, 30);
        var expected = ar.generate(GenerationRequest.greedy(prompt, 100), TokenListener.NONE);
        var r = decoder.generate(GenerationRequest.greedy(prompt, 100), TokenListener.NONE);
        assertEquals(StopReason.CONTEXT_FULL, r.stopReason());
        assertArrayEquals(expected.generated(), r.generated());
        for (int maxTokens : new int[] {1, 2}) {
            assertArrayEquals(ar.generate(GenerationRequest.greedy(prompt, maxTokens), TokenListener.NONE).generated(),
                    decoder.generate(GenerationRequest.greedy(prompt, maxTokens), TokenListener.NONE).generated());
        }
        int stop = expected.generated()[3];
        var stopped = decoder.generate(GenerationRequest.greedy(prompt, 100, stop), TokenListener.NONE);
        assertEquals(StopReason.EOS, stopped.stopReason());
        assertArrayEquals(ar.generate(GenerationRequest.greedy(prompt, 100, stop), TokenListener.NONE).generated(), stopped.generated());
    }

    @Test
    void modelsWithAnotherVocabularyAreRefusedClearly() {
        var target = new RandomModel(2, 32, 4, 2, 48, 64, 64, 1);
        var other = new RandomModel(1, 32, 4, 2, 48, 80, 64, 2);
        var t = level(target.write(tmp.resolve("t"), 1, 1f), "target");
        var o = level(other.write(tmp.resolve("o"), 1, 1f), "other");
        var e = assertThrows(IllegalArgumentException.class, () -> new PipeSpecDecoder(List.of(o, t), WindowPolicy.fixed(2), 4, Chaos.NONE));
        assertTrue(e.getMessage().contains("vocabulary of 80 tokens"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new PipeSpecDecoder(List.of(t), WindowPolicy.fixed(2), 4, Chaos.NONE));
    }

    @Test
    void theAdaptiveWindowGrowsWhenRowsAreFreeAndShrinksWhenTheyCost() {
        assertEquals(8, WindowPolicy.Adaptive.best(0.3, 1000, 0, 8), "rows cost nothing: verify all that is there");
        assertEquals(1, WindowPolicy.Adaptive.best(0.1, 100, 1000, 8), "rows cost ten times the call and drafts are wrong: one at a time");
        int mid = WindowPolicy.Adaptive.best(0.8, 1000, 200, 16);
        assertTrue(mid > 1 && mid < 16, "good drafts, rows cost a fifth of a call: in between, got " + mid);
    }

    @Test
    void theModelOfPipeSpecKeepsArsPaceAtZeroAcceptanceAndGrowsWithAcceptanceAndWindow() {
        assertEquals(1.0, io.ppsd.runtime.speculative.SpeedupTheory.pipespec(0, 4, 0.1), 1e-12, "α = 0: the target is never idle");
        assertEquals(5.0, io.ppsd.runtime.speculative.SpeedupTheory.pipespec(1, 4, 0.1), 1e-12, "α = 1: a full window and the bonus token per call");
        double previous = 1;
        for (double alpha = 0.1; alpha < 1; alpha += 0.1) {
            double s = io.ppsd.runtime.speculative.SpeedupTheory.pipespec(alpha, 4, 0.05);
            assertTrue(s > previous, "grows with α: " + s + " after " + previous);
            previous = s;
        }
        assertTrue(io.ppsd.runtime.speculative.SpeedupTheory.pipespec(0.7, 8, 0.05) > io.ppsd.runtime.speculative.SpeedupTheory.pipespec(0.7, 2, 0.05));
        assertEquals(io.ppsd.runtime.speculative.SpeedupTheory.pipespec(0.7, 2, 0.5), io.ppsd.runtime.speculative.SpeedupTheory.pipespec(0.7, 8, 0.5), 1e-12,
                "a draft at half the target's cost fills two drafts per call, whatever the window");
    }

    @Test
    void thePapersClosedFormNeverLosesToArAndAgreesWithPpsdsModelWhenTheDraftKeepsUp() {
        // Values worked by hand from ρ = α/(1 − α^(γ+1) + α), E[N] = (1 − ρ) + ρ(1 − α^(γ+1))/(1 − α).
        assertEquals(1.2, io.ppsd.runtime.speculative.SpeedupTheory.pipespecPaper(0.5, 1), 1e-12); // ρ = 0.5/1.25 = 0.4, E_F = 0.75/0.5 = 1.5
        assertEquals(1.0, io.ppsd.runtime.speculative.SpeedupTheory.pipespecPaper(0.0, 4), 1e-12);
        assertEquals(5.0, io.ppsd.runtime.speculative.SpeedupTheory.pipespecPaper(1.0, 4), 1e-12);
        for (double alpha = 0.05; alpha < 1; alpha += 0.1) {
            for (int gamma = 1; gamma <= 8; gamma++) {
                double paper = io.ppsd.runtime.speculative.SpeedupTheory.pipespecPaper(alpha, gamma);
                assertTrue(paper > 1, "the paper's theorem: more than one token per target step for 0 < α < 1, got " + paper);
                assertEquals(paper, io.ppsd.runtime.speculative.SpeedupTheory.pipespec(alpha, gamma, 0.01), 1e-12, "α " + alpha + " γ " + gamma);
            }
        }
    }

    @Test
    void samplingKeepsTheTargetsDistribution() {
        var model = new RandomModel(3, 16, 2, 1, 24, 8, 64, 21);
        Path target = model.write(tmp.resolve("target"), 1, 0.5f);
        Path small = model.writeTruncated(tmp.resolve("d1"), 1, 0.5f, 1);
        Path middle = model.writeTruncated(tmp.resolve("d2"), 1, 0.5f, 2);
        var whole = level(target, "target");
        int[] prompt = {3, 5, 2};
        int v = model.vocab();
        double[] exact = Distributions.secondTokenMarginal(whole.stages().getFirst(), prompt);
        for (var levels : List.of(List.of(level(small, "d1"), whole), List.of(level(small, "d1b"), level(middle, "d2"), whole))) {
            var decoder = new PipeSpecDecoder(levels, WindowPolicy.fixed(3), 4, levels.size() - 2, Chaos.NONE);
            int n = 3000;
            long[] counts = new long[v];
            long accepted = 0, verified = 0;
            for (int s = 0; s < n; s++) {
                var request = new GenerationRequest(prompt, 2, SamplingParams.temperature(1f, 1000 + s), null, List.of(), null);
                var r = decoder.generate(request, TokenListener.NONE);
                counts[r.generated()[1]]++;
                for (var st : decoder.lastLevelStats()) {
                    accepted += st.draftsAccepted();
                    verified += st.draftsVerified();
                }
            }
            double[] expected = new double[v];
            for (int i = 0; i < v; i++) expected[i] = exact[i] * n;
            Distributions.assertChiSquare(counts, expected, levels.size() + " levels, second token");
            assertTrue(accepted > 0 && accepted < verified, "both verdicts must occur: " + accepted + "/" + verified);
        }
    }
}
