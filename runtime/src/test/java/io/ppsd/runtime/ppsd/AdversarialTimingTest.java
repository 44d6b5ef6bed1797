package io.ppsd.runtime.ppsd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.speculative.StagePlan;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The in-process pipeline with random delays on every hop and before every message still yields
 * exactly the autoregressive tokens: many seeds, several concurrent sequences, draft windows from
 * 1 to S + 3 and adaptive ones, drafts that are sometimes right and sometimes wrong (late layers scaled down, not off).
 */
class AdversarialTimingTest {
    @TempDir
    Path tmp;

    @Test
    void randomDelaysNeverChangeTheTokens() throws Exception {
        var model = RandomModel.small(77);
        Path dir = model.write(tmp.resolve("m"), 2, 0.25f);
        try (var files = ModelFiles.open(dir)) {
            List<int[]> prompts = new ArrayList<>();
            for (int i = 0; i < 4; i++) prompts.add(model.prompt(100 + i, 3 + 9 * i));
            List<int[]> expected = new ArrayList<>();
            try (var whole = new CpuStageExecutor(files, StageSpec.whole(model.layers()), 1, LoadProgress.NONE)) {
                var ar = new AutoregressiveDecoder(whole);
                for (int[] p : prompts) expected.add(ar.generate(GenerationRequest.greedy(p, 20), TokenListener.NONE).generated());
            }
            long accepted = 0, verified = 0, wasted = 0;
            for (long seed = 1; seed <= 12; seed++) {
                StagePlan plan = seed % 2 == 0 ? StagePlan.forExitLayer(8, 2) : StagePlan.ofSizes(8, 2, 3, 3);
                var stages = plan.open(seed % 3 == 0 ? "transformer-l2" : "norm", spec -> new CpuStageExecutor(files, spec, 1, LoadProgress.NONE));
                var chaos = new InProcessPipeline.Chaos(seed, 300, 200);
                // Fixed draft windows from 1 (no speculation beyond the verified position) to S + 3, and adaptive ones.
                int s = plan.stageCount();
                DraftWindow window = switch ((int) (seed % 5)) {
                    case 0 -> DraftWindow.fixed(1);
                    case 1 -> DraftWindow.fixed(s);
                    case 2 -> DraftWindow.fixed(s + 1);
                    case 3 -> DraftWindow.fixed(s + 3);
                    default -> DraftWindow.defaultFor(s);
                };
                ExecutorService clients = Executors.newFixedThreadPool(prompts.size());
                try (var pipeline = new InProcessPipeline(stages, 5, chaos)) {
                    List<Future<GenerationResult>> results = new ArrayList<>();
                    for (int[] p : prompts) results.add(clients.submit(() -> pipeline.generate(GenerationRequest.greedy(p, 20), TokenListener.NONE, window)));
                    for (int i = 0; i < prompts.size(); i++) {
                        GenerationResult r = results.get(i).get();
                        assertArrayEquals(expected.get(i), r.generated(), "seed " + seed + " window " + window + " prompt " + i);
                        accepted += r.speculation().draftsAccepted();
                        verified += r.speculation().draftsVerified();
                        wasted += r.speculation().wastedStageSteps();
                    }
                } finally {
                    clients.shutdownNow();
                    stages.forEach(StageExecutor::close);
                }
            }
            // The test only means something if both verdicts and rollbacks happened.
            assertTrue(accepted > 0 && accepted < verified, "accepted " + accepted + " of " + verified);
            assertTrue(wasted > 0, "no rollback ever discarded work");
        }
    }
}
