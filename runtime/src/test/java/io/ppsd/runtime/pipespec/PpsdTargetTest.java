package io.ppsd.runtime.pipespec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.SamplingParams;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.ppsd.DraftWindow;
import io.ppsd.runtime.ppsd.InProcessPipeline.Chaos;
import io.ppsd.runtime.speculative.StagePlan;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;
import io.ppsd.runtime.testing.Distributions;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PipeSpec with a PPSD target ({@link PpsdTarget}): the target's PPSD pipeline verifies the draft
 * models' tokens (and its exit head's, when it does not wait for them), and the output must still
 * be the target's — greedy, token for token its AR output, for one and two draft models, waiting
 * or not, with random delays on every message and several sequences at once; sampling, distributed
 * as the target's. The draft models are cuts of the target (its first layers), so their drafts are
 * often but not always right.
 */
class PpsdTargetTest {
    @TempDir
    Path tmp;

    private final OpenedModels models = new OpenedModels();

    @AfterEach
    void close() {
        models.close();
    }

    private ModelFiles open(Path dir) {
        return models.open(dir);
    }

    private ModelLevel level(Path dir, String name) {
        return models.level(dir, name);
    }

    private List<StageExecutor> ppsdStages(ModelFiles files, StagePlan plan, String head) {
        return plan.open(head, spec -> models.keep(new CpuStageExecutor(files, spec, 1, LoadProgress.NONE)));
    }

    @Test
    void greedyOutputIsTheTargetsWithOneOrTwoDraftModelsWaitingOrNotUnderAnyTiming() throws Exception {
        var model = new RandomModel(6, 32, 4, 2, 48, 64, 128, 91);
        Path target = model.write(tmp.resolve("target"), 2, 0.35f);
        Path small = model.writeTruncated(tmp.resolve("d1"), 2, 0.35f, 1);
        Path middle = model.writeTruncated(tmp.resolve("d3"), 2, 0.35f, 3);
        var files = open(target);
        List<int[]> prompts = List.of(model.prompt(1, 1), model.prompt(2, 9), model.prompt(3, 40));
        List<int[]> expected = new ArrayList<>();
        try (var whole = new CpuStageExecutor(files, StageSpec.whole(6), 1, LoadProgress.NONE)) {
            var ar = new AutoregressiveDecoder(whole);
            for (int[] p : prompts) expected.add(ar.generate(GenerationRequest.greedy(p, 30), TokenListener.NONE).generated());
        }
        var d1 = level(small, "d1");
        var d3 = level(middle, "d3");
        List<List<ModelLevel>> hierarchies = List.of(List.of(d1), List.of(d3), List.of(d1, d3));
        long accepted = 0, verified = 0;
        int run = 0;
        ExecutorService clients = Executors.newFixedThreadPool(prompts.size());
        try {
            for (var drafts : hierarchies) {
                for (boolean waits : new boolean[] {true, false}) {
                    for (int round = 0; round < 2; round++, run++) {
                        StagePlan plan = run % 2 == 0 ? StagePlan.ofSizes(6, 2, 2, 2) : StagePlan.ofSizes(6, 2, 4);
                        var chaos = round == 0 ? Chaos.NONE : new Chaos(run, 300, 200);
                        var window = run % 3 == 0 ? WindowPolicy.adaptive(4) : WindowPolicy.fixed(1 + run % 3);
                        var stages = ppsdStages(files, plan, "norm");
                        try (var pipeline = PpsdTarget.inProcess(stages, drafts, window, 2 * window.size(), run % 4 == 3 ? 1 : 0, waits, 5,
                                DraftWindow.defaultFor(plan.stageCount()), chaos)) {
                            List<Future<GenerationResult>> results = new ArrayList<>();
                            for (int[] p : prompts) results.add(clients.submit(() -> pipeline.generate(GenerationRequest.greedy(p, 30), TokenListener.NONE)));
                            for (int i = 0; i < prompts.size(); i++) {
                                var r = results.get(i).get();
                                assertArrayEquals(expected.get(i), r.generated(), pipeline.describe() + " drafts " + drafts.size() + " waits " + waits
                                        + " chaos " + chaos + " prompt " + i);
                                verified += r.speculation().draftsVerified();
                                accepted += r.speculation().draftsAccepted();
                            }
                        }
                    }
                }
            }
        } finally {
            clients.shutdownNow();
        }
        assertTrue(accepted > 0 && accepted < verified, "both verdicts must occur: " + accepted + "/" + verified);
    }

    @Test
    void waitingStageZeroDraftsOnlyTheDraftModelsTokens() {
        // The draft model is the target itself: its drafts are always right, the exit head's (after 1 of 4 layers) are not.
        var model = new RandomModel(4, 32, 4, 2, 48, 64, 128, 12);
        Path target = model.write(tmp.resolve("target"), 2, 0.35f);
        Path same = model.writeTruncated(tmp.resolve("same"), 2, 0.35f, 4);
        var files = open(target);
        var draft = level(same, "same");
        for (boolean waits : new boolean[] {true, false}) {
            var stages = ppsdStages(files, StagePlan.ofSizes(4, 1, 3), "norm");
            try (var pipeline = PpsdTarget.inProcess(stages, List.of(draft), WindowPolicy.fixed(2), 8, 0, waits, 5, DraftWindow.defaultFor(2), Chaos.NONE)) {
                var r = pipeline.generate(GenerationRequest.greedy(model.prompt(5, 7), 40), TokenListener.NONE);
                double alpha = r.speculation().acceptanceRate();
                if (waits) assertEquals(1.0, alpha, 1e-12, "every draft is the draft model's: " + r.speculation());
                else assertTrue(alpha > 0, "the draft model's tokens are used when they are there: " + r.speculation());
            }
        }
        var headOnly = ppsdStages(files, StagePlan.ofSizes(4, 1, 3), "norm");
        try (var pipeline = new io.ppsd.runtime.ppsd.InProcessPipeline(headOnly, 5, Chaos.NONE)) {
            var r = pipeline.generate(GenerationRequest.greedy(model.prompt(5, 7), 40), TokenListener.NONE);
            assertTrue(r.speculation().acceptanceRate() < 1.0, "the exit head alone is sometimes wrong: " + r.speculation());
        }
    }

    @Test
    void samplingKeepsTheTargetsDistribution() {
        var model = new RandomModel(4, 16, 2, 1, 24, 8, 64, 23);
        Path target = model.write(tmp.resolve("target"), 1, 0.5f);
        Path small = model.writeTruncated(tmp.resolve("d1"), 1, 0.5f, 1);
        Path middle = model.writeTruncated(tmp.resolve("d2"), 1, 0.5f, 2);
        var files = open(target);
        int[] prompt = {3, 5, 2};
        int v = model.vocab();
        double[] exact;
        try (var whole = new CpuStageExecutor(files, StageSpec.whole(4), 1, LoadProgress.NONE)) {
            exact = Distributions.secondTokenMarginal(whole, prompt);
        }
        for (var drafts : List.of(List.of(level(small, "d1")), List.of(level(small, "d1b"), level(middle, "d2")))) {
            boolean waits = drafts.size() == 1;
            var stages = ppsdStages(files, StagePlan.ofSizes(4, 1, 3), "norm");
            try (var pipeline = PpsdTarget.inProcess(stages, drafts, WindowPolicy.fixed(2), 4, 0, waits, 5, DraftWindow.defaultFor(2), Chaos.NONE)) {
                Distributions.assertSecondTokenDistribution(Distributions.sampleSecondToken(pipeline, prompt, 3000, 5000, v), exact,
                        drafts.size() + " draft model(s) over a PPSD target, second token");
            }
        }
    }
}
