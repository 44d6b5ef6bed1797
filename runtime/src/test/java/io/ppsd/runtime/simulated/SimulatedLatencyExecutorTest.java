package io.ppsd.runtime.simulated;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.heads.ExitHeadKind;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.ppsd.InProcessPipeline;
import io.ppsd.runtime.speculative.EesdDecoder;
import io.ppsd.runtime.speculative.StagePlan;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The simulated-latency wrapper must not change a single number, and must take about the
 * profile's time per call. Timing bounds are loose on purpose: the machine running the tests is
 * shared, and speed belongs to the benchmark harness.
 */
class SimulatedLatencyExecutorTest {
    @TempDir
    Path tmp;

    /** 1 ms per layer (memory-bound up to 100 rows), 0.5 ms for the LM head. */
    static final DeviceProfile SLOW = new DeviceProfile("test", "1 ms per layer", 1_000_000, 500_000, 1, 1e9, 2e11, Duration.ZERO);
    static final PrecisePause PAUSE = new PrecisePause(60_000);

    @Test
    void profileCountsVerificationAsOneMemoryBoundPass() {
        var a100 = DeviceProfiles.load().get("A100-13B");
        assertEquals(352_441, a100.layerNanos(1), 1_000);
        assertEquals(a100.layerNanos(1), a100.layerNanos(9), "verifying 9 rows reads the weights once");
        assertTrue(a100.layerNanos(1000) > 5 * a100.layerNanos(1), "a long prefill chunk is compute-bound");
        assertEquals(a100.layerNanos(1) + a100.logitsNanos(1), a100.draftNanos(ExitHeadKind.TRANSFORMER, 1));
        assertEquals(a100.logitsNanos(1), a100.draftNanos(ExitHeadKind.NORM, 1));
        assertEquals(8 * a100.layerNanos(1), a100.forwardNanos(8, 1));
    }

    @Test
    void pauseNeverReturnsEarly() {
        for (int i = 0; i < 200; i++) {
            long deadline = System.nanoTime() + 20_000 * (i % 10);
            PAUSE.until(deadline);
            assertTrue(System.nanoTime() - deadline >= 0);
        }
    }

    @Test
    void callsArePaddedToTheProfileTime() {
        var model = RandomModel.small(7);
        Path dir = model.write(tmp.resolve("m"), 4, 1f);
        try (var files = ModelFiles.open(dir);
             var sim = new SimulatedLatencyExecutor(new CpuStageExecutor(files, new StageSpec(new io.ppsd.runtime.stage.LayerRange(0, 3), true, false), 1, LoadProgress.NONE),
                     SLOW, null, PAUSE)) {
            int dim = files.config().hiddenSize();
            float[] h = new float[dim];
            long[] elapsed = new long[60];
            for (int i = 0; i < elapsed.length; i++) {
                sim.embed(new int[] {5}, 0, 1, h);
                long t0 = System.nanoTime();
                sim.forward(1, i, 1, h);
                elapsed[i] = System.nanoTime() - t0;
            }
            Arrays.sort(elapsed);
            long target = SLOW.forwardNanos(3, 1);
            assertEquals(3_000_000, target);
            assertTrue(elapsed[0] >= target, "never shorter than the profile: " + elapsed[0]);
            long median = elapsed[elapsed.length / 2];
            assertTrue(median < target + 1_000_000, "median " + median + " ns for a target of " + target + " ns");
            PaddingStats s = sim.stats();
            assertEquals(elapsed.length, s.calls());
            assertEquals(0, s.overruns(), "a small model computes well within 3 ms");
        }
    }

    @Test
    void outputsMatchTheWrappedExecutorForEveryStrategy() {
        var model = RandomModel.small(11);
        int exit = 2;
        Path dir = model.write(tmp.resolve("m"), exit, 0.2f);
        var fast = new DeviceProfile("fast", "20 µs per layer", 20_000, 10_000, 1, 1e9, 1e12, Duration.ZERO);
        try (var files = ModelFiles.open(dir)) {
            List<int[]> prompts = List.of(model.prompt(1, 3), model.prompt(2, 20));
            try (var plain = new CpuStageExecutor(files, StageSpec.whole(model.layers()), 1, LoadProgress.NONE);
                 var padded = SimulatedLatencyExecutor.wrap(files, new CpuStageExecutor(files, StageSpec.whole(model.layers()), 1, LoadProgress.NONE), fast, PAUSE)) {
                int dim = files.config().hiddenSize();
                float[] a = new float[5 * dim], b = new float[5 * dim];
                int[] tokens = model.prompt(3, 5);
                plain.embed(tokens, 0, 5, a);
                padded.embed(tokens, 0, 5, b);
                plain.forward(9, 0, 5, a);
                padded.forward(9, 0, 5, b);
                assertArrayEquals(a, b, 0f);
                float[] la = new float[files.config().vocabSize()], lb = new float[files.config().vocabSize()];
                plain.logits(a, 1, la);
                padded.logits(b, 1, lb);
                assertArrayEquals(la, lb, 0f);
                assertEquals(plain.length(9), padded.length(9));
                padded.truncate(9, 2);
                assertEquals(2, padded.length(9));

                var ar = new AutoregressiveDecoder(plain);
                var simAr = new AutoregressiveDecoder(padded);
                for (String head : List.of("norm", "linear-l" + exit, "transformer-l" + exit)) {
                    List<StageExecutor> eesdStages = StagePlan.draftAndRest(model.layers(), exit).open(head,
                            spec -> SimulatedLatencyExecutor.wrap(files, new CpuStageExecutor(files, spec, 1, LoadProgress.NONE), fast, PAUSE));
                    List<StageExecutor> ppsdStages = StagePlan.forExitLayer(model.layers(), exit).open(head,
                            spec -> SimulatedLatencyExecutor.wrap(files, new CpuStageExecutor(files, spec, 1, LoadProgress.NONE), fast, PAUSE));
                    var eesd = new EesdDecoder(eesdStages, 3, false);
                    try (var pipeline = new InProcessPipeline(ppsdStages, 8, InProcessPipeline.Chaos.NONE)) {
                        for (int[] p : prompts) {
                            int[] expected = ar.generate(GenerationRequest.greedy(p, 16), TokenListener.NONE).generated();
                            assertArrayEquals(expected, simAr.generate(GenerationRequest.greedy(p, 16), TokenListener.NONE).generated(), "AR, " + head);
                            assertArrayEquals(expected, eesd.generate(GenerationRequest.greedy(p, 16), TokenListener.NONE).generated(), "EESD, " + head);
                            assertArrayEquals(expected, pipeline.generate(GenerationRequest.greedy(p, 16), TokenListener.NONE).generated(), "PPSD, " + head);
                        }
                    } finally {
                        eesdStages.forEach(StageExecutor::close);
                        ppsdStages.forEach(StageExecutor::close);
                    }
                }
            }
        }
    }

    @Test
    void simulatedBackendOpensPaddedStagesAndSlowMotionScalesEveryTime() {
        var model = RandomModel.small(5);
        Path dir = model.write(tmp.resolve("m"), 2, 1f);
        var profiles = DeviceProfiles.load();
        try (var files = ModelFiles.open(dir);
             var stage = new SimulatedStageExecutorFactory(profiles).open(files, new StageSpec(new io.ppsd.runtime.stage.LayerRange(0, 2), true, false, "norm"),
                     io.ppsd.runtime.stage.Device.parse("simulated:0"), LoadProgress.NONE)) {
            var sim = (SimulatedLatencyExecutor) stage;
            assertEquals(profiles.defaultProfile(), sim.profile().name());
            float[] h = new float[files.config().hiddenSize()];
            float[] logits = new float[files.config().vocabSize()];
            sim.embed(new int[] {3}, 0, 1, h);
            sim.forward(1, 0, 1, h);
            sim.draft(1, 0, 1, h, logits);
            assertEquals(2, sim.stats().calls());
            assertTrue(sim.stats().targetNanos() >= sim.profile().forwardNanos(2, 1) + sim.profile().draftNanos(ExitHeadKind.NORM, 1));
        }
        var a100 = profiles.get("A100-13B");
        var slow = a100.slowedBy(2);
        assertEquals(2 * a100.layerNanos(1), slow.layerNanos(1), 2);
        assertEquals(2 * a100.layerNanos(500), slow.layerNanos(500), 2);
        assertEquals(2 * a100.logitsNanos(1), slow.logitsNanos(1), 2);
    }
}
