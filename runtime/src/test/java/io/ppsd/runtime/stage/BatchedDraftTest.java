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
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Stage 0's exit head over a batch of several sequences (a prefill chunk and decode rows, split
 * over compute calls of at most 4 rows, more segments than fit in one call) gives each segment the
 * logits the single-sequence draft gives it, and leaves a transformer head's caches as single
 * calls would: the next draft of each sequence, made singly, agrees too.
 */
class BatchedDraftTest {
    @TempDir
    static Path tmp;

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> heads() {
        return java.util.stream.Stream.of("linear-l2", "transformer-l2").flatMap(h -> java.util.stream.Stream.of(
                org.junit.jupiter.params.provider.Arguments.of(h, false), org.junit.jupiter.params.provider.Arguments.of(h, true)));
    }

    /** {@code greedy}: {@link StageExecutor#draftGreedy} (the ids alone) instead of the logits. */
    @ParameterizedTest(name = "{0}, greedy ids {1}")
    @org.junit.jupiter.params.provider.MethodSource("heads")
    void batchedDraftsEqualSingleDrafts(String head, boolean greedy) {
        var model = RandomModel.small(11);
        Path dir = tmp.resolve("m-" + head + greedy);
        model.write(dir, 2, 1f);
        var spec = new StageSpec(new LayerRange(0, 2), true, false, head);
        try (var files = ModelFiles.open(dir);
             var batched = new CpuStageExecutor(files, spec, new CoreGroup(2, "b"), true, 4, LoadProgress.NONE);
             var single = new CpuStageExecutor(files, spec, new CoreGroup(1, "s"), true, 4, LoadProgress.NONE)) {
            int dim = files.config().hiddenSize(), vocab = files.config().vocabSize();
            var random = new SplittableRandom(3);
            // Six sequences holding 4, 0, 2, 7, 1 and 3 positions; the batch adds 1, 6, 1, 1, 1 and 1 rows.
            int[] held = {4, 0, 2, 7, 1, 3}, added = {1, 6, 1, 1, 1, 1};
            int n = held.length;
            int[][] tokens = new int[n][];
            for (int s = 0; s < n; s++) {
                tokens[s] = random.ints(held[s] + added[s] + 1, 0, vocab).toArray();
                if (held[s] == 0) continue;
                for (StageExecutor e : new StageExecutor[] {batched, single}) {
                    float[] h = new float[held[s] * dim];
                    e.embed(tokens[s], 0, held[s], h);
                    e.forward(s + 1, 0, held[s], h);
                    e.draft(s + 1, 0, held[s], h, new float[vocab]);
                }
            }
            var batch = new StageBatch();
            float[] rows = new float[Arrays.stream(added).sum() * dim];
            for (int s = 0; s < n; s++) {
                batch.add(s + 1, held[s], added[s]);
                float[] h = new float[added[s] * dim];
                batched.embed(tokens[s], held[s], added[s], h);
                System.arraycopy(h, 0, rows, batch.rowOffset(s) * dim, h.length);
            }
            batched.forward(batch, rows);
            float[] before = rows.clone();
            float[] logits = new float[n * vocab];
            if (greedy) {
                // Only the ids: each must be the argmax of what the single-sequence draft's logits say.
                int[] drafts = new int[n];
                batched.draftGreedy(batch, rows, drafts);
                for (int s = 0; s < n; s++) logits[s * vocab + drafts[s]] = 1; // compared below through the argmax
            } else {
                batched.draft(batch, rows, logits);
            }
            assertArrayEquals(before, rows, "the rows go downstream as the layers left them");
            for (int s = 0; s < n; s++) {
                float[] h = new float[added[s] * dim], expected = new float[vocab];
                single.embed(tokens[s], held[s], added[s], h);
                single.forward(s + 1, held[s], added[s], h);
                single.draft(s + 1, held[s], added[s], h, expected);
                if (greedy) {
                    assertEquals(io.ppsd.runtime.decode.Sampler.argmax(expected, 0, vocab), io.ppsd.runtime.decode.Sampler.argmax(logits, s * vocab, vocab),
                            head + ": the greedy draft of segment " + s);
                } else {
                    assertArrayEquals(expected, Arrays.copyOfRange(logits, s * vocab, (s + 1) * vocab), 1e-5f, head + ": segment " + s);
                }
                if (head.startsWith("transformer")) assertEquals(held[s] + added[s], batched.headLength(s + 1), "the head's cache grew by the segment's rows");
            }
            for (int s = 0; s < n; s++) { // the head caches the batch wrote serve the next position as the single drafts' do
                int pos = held[s] + added[s];
                float[] a = new float[dim], b = new float[dim], la = new float[vocab], lb = new float[vocab];
                batched.embed(tokens[s], pos, 1, a);
                single.embed(tokens[s], pos, 1, b);
                batched.forward(s + 1, pos, 1, a);
                single.forward(s + 1, pos, 1, b);
                batched.draft(s + 1, pos, 1, a, la);
                single.draft(s + 1, pos, 1, b, lb);
                assertArrayEquals(lb, la, 1e-5f, head + ": the draft after segment " + s);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"transformer-l2"})
    void aSegmentAtTheWrongPositionChangesNoHeadCache(String head) {
        var model = RandomModel.small(12);
        Path dir = tmp.resolve("w-" + head);
        model.write(dir, 2, 1f);
        try (var files = ModelFiles.open(dir);
             var stage = new CpuStageExecutor(files, new StageSpec(new LayerRange(0, 2), true, false, head), 1, LoadProgress.NONE)) {
            int dim = files.config().hiddenSize(), vocab = files.config().vocabSize();
            float[] h = new float[2 * dim];
            stage.embed(new int[] {3, 4}, 0, 2, h);
            stage.forward(1, 0, 2, h);
            stage.draft(1, 0, 2, h, new float[vocab]);
            var bad = StageBatch.of(2, 0, 1).add(1, 1, 1); // sequence 1's head holds 2 positions, not 1
            var e = assertThrows(IllegalStateException.class, () -> stage.draft(bad, new float[2 * dim], new float[2 * vocab]));
            assertTrue(e.getMessage().contains("sequence 1") && e.getMessage().contains("exit head"), e.getMessage());
            assertEquals(2, stage.headLength(1));
            assertEquals(0, stage.headLength(2), "nothing was computed for the other segment either");
        }
    }
}
