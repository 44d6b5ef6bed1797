package io.ppsd.runtime.stage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.ppsd.InProcessPipeline;
import io.ppsd.runtime.speculative.StagePlan;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The KV-cache budget: reservations in blocks never exceed it and never leak, a sequence that
 * does not fit is refused with the reason and changes nothing, and a pipeline whose budget is
 * too small for all its sessions serves the ones that fit with exactly AR's tokens.
 */
class KvBudgetTest {
    @TempDir
    Path tmp;

    @Test
    void reservationsAddUpAndNothingLeaksOverThousandsOfOperations() {
        long blockBytes = 100L * KvBudget.BLOCK_POSITIONS;
        var budget = KvBudget.of("test", 50 * blockBytes);
        Object a = new Object(), b = new Object();
        Map<String, Long> held = new HashMap<>(); // owner:seq -> blocks, the model the budget must agree with
        var random = new SplittableRandom(5);
        int refused = 0;
        for (int op = 0; op < 20_000; op++) {
            Object owner = random.nextBoolean() ? a : b;
            long seq = random.nextInt(12);
            String key = (owner == a ? "a:" : "b:") + seq;
            if (random.nextInt(4) == 0) {
                budget.release(owner, seq);
                held.remove(key);
            } else {
                int positions = 1 + random.nextInt(200);
                long blocks = (positions + KvBudget.BLOCK_POSITIONS - 1) / KvBudget.BLOCK_POSITIONS;
                long before = budget.reservedBytes();
                try {
                    budget.reserve(owner, seq, positions, 100);
                    held.merge(key, blocks, Math::max);
                } catch (KvBudget.Exceeded e) {
                    refused++;
                    assertEquals(before, budget.reservedBytes(), "a refused reservation changes nothing");
                    assertTrue(e.getMessage().contains("KV-cache budget of test") && e.getMessage().contains("retry later"), e.getMessage());
                }
            }
            long expected = held.values().stream().mapToLong(Long::longValue).sum() * blockBytes;
            assertEquals(expected, budget.reservedBytes(), "after operation " + op);
            assertTrue(budget.reservedBytes() <= budget.totalBytes());
            assertEquals(held.size(), budget.sequences());
        }
        assertTrue(refused > 0, "the budget was hit");
        budget.releaseAll(a);
        budget.releaseAll(b);
        assertEquals(0, budget.reservedBytes(), "no block leaked");
        assertEquals(0, budget.sequences());
    }

    @Test
    void aStageReservesAsItGrowsKeepsTheReservationOnRollbackAndReturnsItOnRelease() {
        var model = RandomModel.small(13);
        Path dir = model.write(tmp.resolve("m"), 2, 1f);
        try (var files = ModelFiles.open(dir);
             var stage = new CpuStageExecutor(files, new StageSpec(new LayerRange(0, 2), true, false), 1, LoadProgress.NONE)) {
            long perPosition = 2L * 2 * files.config().kvDim() * Float.BYTES;
            var budget = KvBudget.of("small", 10 * KvBudget.BLOCK_POSITIONS * perPosition);
            stage.useBudget(budget);
            int dim = files.config().hiddenSize();
            float[] h = new float[20 * dim];
            stage.embed(model.prompt(1, 20), 0, 20, h);
            stage.forward(1, 0, 20, h);
            assertEquals(2 * KvBudget.BLOCK_POSITIONS * perPosition, budget.reservedBytes(), "20 positions: 2 blocks");
            stage.truncate(1, 3);
            assertEquals(2 * KvBudget.BLOCK_POSITIONS * perPosition, budget.reservedBytes(), "a rollback keeps the reservation");
            stage.admit(2, 100);
            assertEquals(9 * KvBudget.BLOCK_POSITIONS * perPosition, budget.reservedBytes(), "admitting 100 positions reserves 7 blocks up front");
            var e = assertThrows(KvBudget.Exceeded.class, () -> stage.admit(3, 50));
            assertTrue(e.getMessage().contains("cannot hold 50 more positions of sequence 3"), e.getMessage());
            stage.release(2);
            stage.admit(3, 50);
            stage.release(1);
            stage.release(3);
            assertEquals(0, budget.reservedBytes());
        }
    }

    @Test
    void aPipelineTooSmallForAllItsSessionsServesThoseThatFitExactly() throws Exception {
        var model = RandomModel.small(14);
        Path dir = model.write(tmp.resolve("p"), 2, 1f);
        try (var files = ModelFiles.open(dir)) {
            // Each stage its own device budget (as GPUs have): room for 2 sequences of up to 48 positions.
            List<KvBudget> budgets = new ArrayList<>();
            List<StageExecutor> stages = StagePlan.forExitLayer(model.layers(), 2).open("norm", spec -> {
                var s = new CpuStageExecutor(files, spec, 1, LoadProgress.NONE);
                var budget = KvBudget.of("stage " + spec.layers(), 2L * 3 * KvBudget.BLOCK_POSITIONS * 2 * 2 * files.config().kvDim() * Float.BYTES);
                budgets.add(budget);
                s.useBudget(budget);
                return s;
            });
            int[][] prompts = new int[8][];
            int[][] expected = new int[8][];
            try (var whole = new CpuStageExecutor(files, StageSpec.whole(model.layers()), 1, LoadProgress.NONE)) {
                var ar = new AutoregressiveDecoder(whole);
                for (int i = 0; i < 8; i++) {
                    prompts[i] = model.prompt(40 + i, 4 + i);
                    expected[i] = ar.generate(GenerationRequest.greedy(prompts[i], 24), TokenListener.NONE).generated();
                }
            }
            var clients = Executors.newFixedThreadPool(8);
            try (var pipeline = new InProcessPipeline(stages, 8, new InProcessPipeline.Chaos(3, 300, 100))) {
                List<Future<int[]>> running = new ArrayList<>();
                for (int[] p : prompts) running.add(clients.submit(() -> pipeline.generate(GenerationRequest.greedy(p, 24), TokenListener.NONE).generated()));
                int served = 0, refused = 0;
                for (int i = 0; i < 8; i++) {
                    try {
                        assertArrayEquals(expected[i], running.get(i).get(), "prompt " + i);
                        served++;
                    } catch (java.util.concurrent.ExecutionException e) {
                        assertTrue(e.getCause().getMessage().contains("KV-cache budget"), e.getCause().getMessage());
                        refused++;
                    }
                }
                assertTrue(served > 0, "some sessions fit");
                assertTrue(refused > 0, "some did not: " + served + " served");
                for (int[] p : prompts) assertArrayEquals(expected[java.util.Arrays.asList(prompts).indexOf(p)],
                        pipeline.generate(GenerationRequest.greedy(p, 24), TokenListener.NONE).generated(), "one at a time, every session fits");
            } finally {
                clients.shutdownNow();
                stages.forEach(StageExecutor::close);
            }
            for (KvBudget budget : budgets) assertEquals(0, budget.reservedBytes(), "every reservation was returned: " + budget);
        }
    }

    @Test
    void stagesSharingABudgetReserveASequenceWholeOrNotAtAll() throws Exception {
        var model = RandomModel.small(15);
        Path dir = model.write(tmp.resolve("s"), 2, 1f);
        try (var files = ModelFiles.open(dir)) {
            // The four stages (of 2 layers) of one heap share one budget: room for five stage reservations of 64 positions.
            long perStage = 64L * 2 * 2 * files.config().kvDim() * Float.BYTES;
            var shared = KvBudget.of("one heap", 5 * perStage);
            List<StageExecutor> stages = StagePlan.forExitLayer(model.layers(), 2).open("norm", spec -> {
                var s = new CpuStageExecutor(files, spec, 1, LoadProgress.NONE);
                s.useBudget(shared);
                return s;
            });
            var clients = Executors.newSingleThreadExecutor();
            try (var pipeline = new InProcessPipeline(stages, 8, InProcessPipeline.Chaos.NONE)) {
                int[] prompt = model.prompt(60, 8);
                var first = clients.submit(() -> pipeline.generate(GenerationRequest.greedy(prompt, 56), t -> sleepQuietly()));
                long until = System.nanoTime() + 30_000_000_000L;
                while (shared.reservedBytes() < 4 * perStage && System.nanoTime() < until && !first.isDone()) Thread.sleep(1);
                assertEquals(4 * perStage, shared.reservedBytes(), "the first sequence holds a reservation on each of the 4 stages");
                // The second fits on stage 0 but not on stage 1: refused at once, holding nothing.
                var e = assertThrows(KvBudget.Exceeded.class, () -> pipeline.generate(GenerationRequest.greedy(model.prompt(61, 8), 56), TokenListener.NONE));
                assertTrue(e.getMessage().contains("KV-cache budget of one heap"), e.getMessage());
                assertEquals(4 * perStage, shared.reservedBytes(), "only the first sequence's reservations are held");
                assertEquals(56, first.get(60, java.util.concurrent.TimeUnit.SECONDS).generated().length);
            } finally {
                clients.shutdownNow();
                stages.forEach(StageExecutor::close);
            }
            assertEquals(0, shared.reservedBytes());
        }
    }

    private static void sleepQuietly() {
        try {
            Thread.sleep(2);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
