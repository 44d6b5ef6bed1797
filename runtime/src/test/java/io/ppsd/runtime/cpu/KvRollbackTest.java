package io.ppsd.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.LayerRange;
import io.ppsd.runtime.stage.StageSpec;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * After any sequence of appends (single and batched) and truncations, a stage's caches — layers
 * and transformer head — hold exactly what recomputation from scratch holds: the next forward
 * gives the same hidden states and head logits (to float rounding); and the paged caches hold exactly the blocks
 * their lengths need, none leaked.
 */
class KvRollbackTest {
    @TempDir
    Path tmp;

    @Test
    void appendsAndTruncationsEqualRecomputation() {
        var model = RandomModel.small(5);
        Path dir = model.write(tmp.resolve("m"), 3, 1f);
        var spec = new StageSpec(new LayerRange(0, 3), true, false, "transformer-l3");
        try (var files = ModelFiles.open(dir);
             var live = new CpuStageExecutor(files, spec, 1, LoadProgress.NONE);
             var fresh = new CpuStageExecutor(files, spec, 1, LoadProgress.NONE)) {
            int dim = model.hidden();
            var random = new SplittableRandom(9);
            int[] tokens = new int[200];
            int length = 0;
            for (int op = 0; op < 120; op++) {
                if (length > 0 && random.nextInt(3) == 0) {
                    int to = random.nextInt(length + 1);
                    live.truncate(1, to);
                    length = to;
                    assertEquals(length, live.length(1));
                    continue;
                }
                int n = Math.min(1 + random.nextInt(random.nextBoolean() ? 1 : 40), tokens.length - 1 - length);
                if (n <= 0) continue;
                for (int i = 0; i < n; i++) tokens[length + i] = 2 + random.nextInt(model.vocab() - 2);
                float[] h = new float[n * dim];
                float[] logits = new float[model.vocab()];
                live.embed(tokens, length, n, h);
                live.forward(1, length, n, h);
                live.draft(1, length, n, h, logits);
                length += n;

                // Recompute the whole path from scratch, token by token.
                fresh.release(2);
                float[] h2 = new float[dim];
                float[] logits2 = new float[model.vocab()];
                for (int p = 0; p < length; p++) {
                    fresh.embed(tokens, p, 1, h2);
                    fresh.forward(2, p, 1, h2);
                    fresh.draft(2, p, 1, h2, logits2);
                }
                float[] lastLive = java.util.Arrays.copyOfRange(h, (n - 1) * dim, n * dim);
                // Not bit-identical after all: the vector dot's summation order differs between interpreted and
                // compiled code (seen once in many runs: 1.1e-5); a stale or misplaced cache row is off by ~0.1.
                assertArrayEquals(h2, lastLive, 5e-5f, "hidden state after op " + op);
                assertArrayEquals(logits2, logits, 1e-4f, "head logits after op " + op);
            }
            assertThrows(IllegalStateException.class, () -> live.forward(1, live.length(1) + 1, 1, new float[dim]),
                    "a forward that skips positions must be refused");
            assertThrows(IllegalArgumentException.class, () -> live.truncate(1, live.length(1) + 1));
        }
    }

    @Test
    void thousandsOfAppendsTruncationsAndReleasesLeakNoBlock() {
        var model = RandomModel.small(6);
        Path dir = model.write(tmp.resolve("b"), 2, 1f);
        var spec = new StageSpec(new LayerRange(0, 2), true, false, "transformer-l2");
        try (var files = ModelFiles.open(dir);
             var stage = new CpuStageExecutor(files, spec, 1, LoadProgress.NONE)) {
            int dim = model.hidden();
            var random = new SplittableRandom(21);
            int[] tokens = new int[400];
            for (int i = 0; i < tokens.length; i++) tokens[i] = 2 + random.nextInt(model.vocab() - 2);
            java.util.Map<Long, Integer> lengths = new java.util.HashMap<>(); // sequences holding caches (layers and head in step)
            int truncations = 0, releases = 0;
            for (int op = 0; op < 3_000; op++) {
                long seq = random.nextInt(6);
                int length = lengths.getOrDefault(seq, 0);
                int kind = random.nextInt(10);
                if (kind == 0) {
                    stage.release(seq);
                    lengths.remove(seq);
                    releases++;
                } else if (kind <= 3 && lengths.containsKey(seq)) {
                    int to = Math.max(0, length - random.nextInt(Math.min(length, 40) + 1));
                    stage.truncate(seq, to);
                    lengths.put(seq, to);
                    truncations++;
                } else {
                    int n = Math.min(1 + random.nextInt(random.nextInt(5) == 0 ? 48 : 3), tokens.length - 1 - length);
                    if (n <= 0) continue;
                    float[] h = new float[n * dim];
                    stage.embed(tokens, length, n, h);
                    stage.forward(seq, length, n, h);
                    stage.draft(seq, length, n, h, new float[model.vocab()]);
                    lengths.put(seq, length + n);
                }
                long expected = 0;
                for (int len : lengths.values()) expected += 2L * (2 + 1) * Math.max(1, (len + KvCache.BLOCK - 1) / KvCache.BLOCK);
                assertEquals(expected, stage.kvBlocksHeld(), "blocks after operation " + op + ": keys and values of 2 layers and the head's");
            }
            assertTrue(truncations > 500 && releases > 200, truncations + " truncations, " + releases + " releases");
            for (long seq = 0; seq < 6; seq++) stage.release(seq);
            assertEquals(0, stage.kvBlocksHeld(), "every block handed back");
            assertEquals(0, stage.cachedSequences());
        }
    }
}
