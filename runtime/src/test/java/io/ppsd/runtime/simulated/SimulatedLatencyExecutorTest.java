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
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.ppsd.InProcessPipeline;
import io.ppsd.runtime.speculative.EesdDecoder;
import io.ppsd.runtime.speculative.StagePlan;
import io.ppsd.runtime.stage.LayerRange;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The simulated-latency wrapper must not change a single number, and must pad every call to the
 * profile's time. The padding is checked exactly on a clock the test moves itself; on the wall
 * clock only as a lower bound (a pause never returns early), since the machine running the tests
 * is shared and speed belongs to the benchmark harness.
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
    void aCallIsPaddedUntilItsStartPlusTheProfileTime() {
        var clock = new FakeClock();
        var stage = new TimedStage(new StageSpec(new LayerRange(0, 3), true, false), clock);
        var sim = new SimulatedLatencyExecutor(stage, SLOW, null, clock);
        long target = SLOW.forwardNanos(3, 1);
        assertEquals(3_000_000, target);
        long start = clock.now;
        stage.computeNanos = 1_200_000;
        clock.lateness = 40_000;
        sim.forward(1, 7, 1, new float[4]);
        assertEquals(List.of("forward 1 7 1"), stage.calls);
        assertEquals(List.of(start + target), clock.pausedUntil, "paused until the call's start plus the profile's time");
        assertEquals(start + target + 40_000, clock.now);
        assertEquals(new PaddingStats(1, target, 1_200_000, 0, 0, 40_000, 40_000), sim.stats());
    }

    /** A call for several sequences costs one read of the weights and arithmetic for all its rows, per the profile. */
    @Test
    void aBatchedCallIsPricedAsOneCallOverAllItsRows() {
        var clock = new FakeClock();
        var stage = new TimedStage(new StageSpec(new LayerRange(0, 3), true, false), clock);
        // 1 ms per layer while memory-bound; compute of 2e11 FLOP/s makes 1e6 parameters × 200 rows take 2 ms.
        var sim = new SimulatedLatencyExecutor(stage, SLOW, null, clock);
        long start = clock.now;
        var batch = io.ppsd.runtime.stage.StageBatch.of(1, 4, 1).add(2, 0, 6).add(3, 9, 1);
        sim.forward(batch, new float[0]);
        assertEquals(List.of("batch " + batch), stage.calls, "the wrapped stage gets the batch as one call");
        assertEquals(List.of(start + SLOW.forwardNanos(3, 8)), clock.pausedUntil);
        assertEquals(SLOW.forwardNanos(3, 1), SLOW.forwardNanos(3, 8), "8 rows read the weights once: no dearer than 1 row");
        var big = new io.ppsd.runtime.stage.StageBatch();
        for (int s = 0; s < 10; s++) big.add(10 + s, 0, 40);
        clock.pausedUntil.clear();
        long again = clock.now;
        sim.forward(big, new float[0]);
        assertEquals(List.of(again + SLOW.forwardNanos(3, 400)), clock.pausedUntil);
        assertEquals(3 * 2L * 1_000_000 * 400 * 1_000_000_000L / 200_000_000_000L, SLOW.forwardNanos(3, 400),
                "400 rows are compute-bound: 2 · parameters · rows ÷ FLOP/s per layer");
    }

    @Test
    void aCallSlowerThanTheProfileIsAnOverrunAndIsNotPaused() {
        var clock = new FakeClock();
        var stage = new TimedStage(new StageSpec(new LayerRange(0, 3), true, false), clock);
        var sim = new SimulatedLatencyExecutor(stage, SLOW, null, clock);
        long start = clock.now;
        stage.computeNanos = 3_500_000;
        sim.forward(1, 0, 1, new float[4]);
        assertEquals(List.of(), clock.pausedUntil);
        assertEquals(start + 3_500_000, clock.now);
        assertEquals(new PaddingStats(1, 3_000_000, 3_500_000, 1, 500_000, 0, 0), sim.stats());

        // Exactly the profile's time: nothing left to pad, and nothing over.
        stage.computeNanos = 3_000_000;
        sim.forward(1, 1, 1, new float[4]);
        assertEquals(List.of(), clock.pausedUntil);
        assertEquals(new PaddingStats(2, 6_000_000, 6_500_000, 1, 500_000, 0, 0), sim.stats());
    }

    @Test
    void statsAddUpOverForwardLogitsAndDraftAndLeaveTheOtherCallsAlone() {
        var clock = new FakeClock();
        var stage = new TimedStage(new StageSpec(new LayerRange(0, 2), true, true, "norm"), clock);
        var sim = new SimulatedLatencyExecutor(stage, SLOW, ExitHeadKind.NORM, clock);
        assertEquals(2_000_000, SLOW.forwardNanos(2, 4));
        assertEquals(500_000, SLOW.logitsNanos(2));
        assertEquals(500_000, SLOW.draftNanos(ExitHeadKind.NORM, 1));
        float[] h = new float[8];

        long forwardStart = clock.now;
        stage.computeNanos = 500_000;
        clock.lateness = 10_000;
        sim.forward(1, 0, 4, h);
        long logitsStart = clock.now;
        assertEquals(forwardStart + 2_000_000 + 10_000, logitsStart);
        stage.computeNanos = 100_000;
        clock.lateness = 30_000;
        sim.logits(h, 2, new float[16]);
        stage.computeNanos = 2_000_000;
        sim.draft(1, 4, 1, h, new float[16]);

        // Metadata calls and the embedding lookup are passed through, not padded.
        long before = clock.now;
        sim.embed(new int[] {3}, 0, 1, h);
        sim.truncate(1, 2);
        sim.release(1);
        assertEquals(0, sim.length(1));
        assertEquals(before + stage.computeNanos, clock.now, "only the embedding computes, and it is not paused");

        assertEquals(List.of("forward 1 0 4", "logits 2", "draft 1 4 1", "embed 1", "truncate 1 2", "release 1", "length 1"), stage.calls);
        assertEquals(List.of(forwardStart + 2_000_000, logitsStart + 500_000), clock.pausedUntil);
        assertEquals(new PaddingStats(3, 3_000_000, 2_600_000, 1, 1_500_000, 40_000, 30_000), sim.stats());
    }

    @Test
    void onTheWallClockCallsNeverTakeLessThanTheProfileTime() {
        var model = RandomModel.small(7);
        Path dir = model.write(tmp.resolve("m"), 4, 1f);
        try (var files = ModelFiles.open(dir);
             var sim = new SimulatedLatencyExecutor(new CpuStageExecutor(files, new StageSpec(new LayerRange(0, 3), true, false), 1, LoadProgress.NONE),
                     SLOW, null, PAUSE)) {
            float[] h = new float[files.config().hiddenSize()];
            long target = SLOW.forwardNanos(3, 1);
            int calls = 20;
            for (int i = 0; i < calls; i++) {
                sim.embed(new int[] {5}, 0, 1, h);
                long t0 = System.nanoTime();
                sim.forward(1, i, 1, h);
                long elapsed = System.nanoTime() - t0;
                assertTrue(elapsed >= target, "call " + i + " took " + elapsed + " ns, less than the profile's " + target);
            }
            PaddingStats s = sim.stats();
            assertEquals(calls, s.calls());
            assertEquals(calls * target, s.targetNanos());
        }
    }

    /** Time that moves only when a {@link TimedStage} computes or a pause waits (to its deadline, plus a lateness the test sets). */
    static final class FakeClock implements PaddingClock {
        long now = 5_000_000_000L;
        long lateness;
        final List<Long> pausedUntil = new ArrayList<>();

        @Override
        public long nanoTime() {
            return now;
        }

        @Override
        public void pauseUntil(long deadline) {
            pausedUntil.add(deadline);
            now = Math.max(now, deadline) + lateness;
        }
    }

    /** A stage that computes nothing: its forward, logits, draft and embed take {@code computeNanos} of the fake clock. */
    static final class TimedStage implements StageExecutor {
        final StageSpec spec;
        final FakeClock clock;
        long computeNanos;
        final List<String> calls = new ArrayList<>();

        TimedStage(StageSpec spec, FakeClock clock) {
            this.spec = spec;
            this.clock = clock;
        }

        private void compute(String call) {
            calls.add(call);
            clock.now += computeNanos;
        }

        @Override
        public StageSpec spec() {
            return spec;
        }

        @Override
        public ModelConfig config() {
            return null;
        }

        @Override
        public void forward(long seq, int startPos, int n, float[] hidden) {
            compute("forward " + seq + " " + startPos + " " + n);
        }

        @Override
        public void forward(io.ppsd.runtime.stage.StageBatch batch, float[] hidden) {
            compute("batch " + batch);
        }

        @Override
        public void embed(int[] tokens, int off, int n, float[] hidden) {
            compute("embed " + n);
        }

        @Override
        public void logits(float[] hidden, int rows, float[] out) {
            compute("logits " + rows);
        }

        @Override
        public void draft(long seq, int startPos, int rows, float[] hidden, float[] logits) {
            compute("draft " + seq + " " + startPos + " " + rows);
        }

        @Override
        public int length(long seq) {
            calls.add("length " + seq);
            return 0;
        }

        @Override
        public void truncate(long seq, int length) {
            calls.add("truncate " + seq + " " + length);
        }

        @Override
        public void release(long seq) {
            calls.add("release " + seq);
        }

        @Override
        public void close() {}
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
             var stage = new SimulatedStageExecutorFactory(profiles).open(files, new StageSpec(new LayerRange(0, 2), true, false, "norm"),
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
