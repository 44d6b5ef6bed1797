package io.ppsd.runtime.stage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.cpu.CoreGroup;
import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A stage call carrying rows of several sequences (prefill, verification and decode rows mixed,
 * different lengths, split over compute calls of at most 4 rows) gives every row what the
 * single-sequence call gives it, and leaves each sequence's cache as single calls would: the next
 * positions computed singly agree too.
 */
class BatchedForwardTest {
    @TempDir
    static Path tmp;

    static Stream<String> models() {
        return Stream.of("random", "tiny-qwen2", "tiny-qwen3");
    }

    private static Path model(String name) {
        if (!name.equals("random")) return Path.of("src/test/resources/reference", name);
        Path dir = tmp.resolve("random");
        if (!dir.toFile().exists()) RandomModel.small(9).write(dir, 2, 1f);
        return dir;
    }

    @ParameterizedTest
    @MethodSource("models")
    void batchedRowsEqualSingleCalls(String name) {
        try (var files = ModelFiles.open(model(name));
             var batched = new CpuStageExecutor(files, StageSpec.whole(files.config().numLayers()), new CoreGroup(2, "b"), true, 4, LoadProgress.NONE);
             var single = new CpuStageExecutor(files, StageSpec.whole(files.config().numLayers()), new CoreGroup(1, "s"), true, 4, LoadProgress.NONE)) {
            int dim = files.config().hiddenSize(), vocab = files.config().vocabSize();
            var random = new SplittableRandom(7);
            // Sequences 1..4 hold 5, 0, 3 and 9 positions; the batch adds 1, 6, 3 and 1 rows.
            int[] held = {5, 0, 3, 9}, added = {1, 6, 3, 1};
            int[][] tokens = new int[4][];
            for (int s = 0; s < 4; s++) {
                tokens[s] = random.ints(held[s] + added[s] + 1, 0, vocab).toArray();
                if (held[s] > 0) {
                    for (StageExecutor e : new StageExecutor[] {batched, single}) {
                        float[] h = new float[held[s] * dim];
                        e.embed(tokens[s], 0, held[s], h);
                        e.forward(s + 1, 0, held[s], h);
                    }
                }
            }
            var batch = new StageBatch();
            int total = Arrays.stream(added).sum();
            float[] rows = new float[total * dim];
            for (int s = 0, row = 0; s < 4; row += added[s], s++) {
                batch.add(s + 1, held[s], added[s]);
                float[] h = new float[added[s] * dim];
                batched.embed(tokens[s], held[s], added[s], h);
                System.arraycopy(h, 0, rows, row * dim, h.length);
            }
            batched.forward(batch, rows);
            for (int s = 0; s < 4; s++) {
                float[] expected = new float[added[s] * dim];
                single.embed(tokens[s], held[s], added[s], expected);
                single.forward(s + 1, held[s], added[s], expected);
                int off = batch.rowOffset(s) * dim;
                assertArrayEquals(expected, Arrays.copyOfRange(rows, off, off + expected.length), 1e-5f, name + ": segment " + s + " of " + batch);
                assertEquals(held[s] + added[s], batched.length(s + 1), "the segment's cache grew by its rows");
            }
            // The caches the batch wrote serve the next position as the single calls' caches do.
            for (int s = 0; s < 4; s++) {
                int pos = held[s] + added[s];
                float[] a = new float[dim], b = new float[dim];
                batched.embed(tokens[s], pos, 1, a);
                single.embed(tokens[s], pos, 1, b);
                batched.forward(s + 1, pos, 1, a);
                single.forward(s + 1, pos, 1, b);
                assertArrayEquals(b, a, 1e-5f, name + ": the position after segment " + s);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void aSegmentAtTheWrongPositionChangesNoCache(String name) {
        try (var files = ModelFiles.open(model(name));
             var stage = new CpuStageExecutor(files, StageSpec.whole(files.config().numLayers()), 1, LoadProgress.NONE)) {
            int dim = files.config().hiddenSize();
            float[] h = new float[2 * dim];
            stage.embed(new int[] {3, 4}, 0, 2, h);
            stage.forward(1, 0, 2, h);
            var bad = StageBatch.of(2, 0, 1).add(1, 1, 1); // sequence 1 holds 2 positions, not 1
            var e = assertThrows(IllegalStateException.class, () -> stage.forward(bad, new float[2 * dim]));
            assertTrue(e.getMessage().contains("sequence 1"), e.getMessage());
            assertEquals(2, stage.length(1));
            assertEquals(0, stage.length(2), "nothing was computed for the other segment either");
            assertThrows(IllegalArgumentException.class, () -> StageBatch.of(1, 0, 1).add(1, 1, 1), "a sequence appears once per batch");
        }
    }
}
