package io.ppsd.runtime.stage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The rules every backend inherits from {@link LayerStackExecutor}, checked on the CPU backend:
 * a call must start where the cache ends, long calls are chunked without changing a number, the
 * exit head's cache follows the stage's through truncation and release.
 */
class LayerStackExecutorTest {
    @TempDir
    Path tmp;

    @Test
    void aCallMustStartWhereTheCacheEnds() {
        var model = RandomModel.small(3);
        Path dir = model.write(tmp.resolve("m"), 2, 1f);
        try (var files = ModelFiles.open(dir);
             var stage = new CpuStageExecutor(files, new StageSpec(new LayerRange(0, 2), true, false, "transformer-l2"), 1, LoadProgress.NONE)) {
            int dim = files.config().hiddenSize();
            float[] h = new float[3 * dim];
            float[] logits = new float[files.config().vocabSize()];
            stage.embed(model.prompt(1, 3), 0, 3, h);
            stage.forward(5, 0, 3, h);
            stage.draft(5, 0, 3, h, logits);
            assertEquals(3, stage.length(5));
            assertEquals(3, stage.headLength(5));
            var e = assertThrows(IllegalStateException.class, () -> stage.forward(5, 2, 1, new float[dim]));
            assertTrue(e.getMessage().contains("has 3 cached positions") && e.getMessage().contains("truncate first"), e.getMessage());
            var headError = assertThrows(IllegalStateException.class, () -> stage.draft(5, 1, 1, new float[dim], logits));
            assertTrue(headError.getMessage().contains("exit head"), headError.getMessage());
            stage.truncate(5, 1);
            assertEquals(1, stage.length(5));
            assertEquals(1, stage.headLength(5), "rollback truncates the head's cache too");
            assertThrows(IllegalArgumentException.class, () -> stage.truncate(5, 2), "a cache cannot grow by truncation");
            assertThrows(IllegalArgumentException.class, () -> stage.truncate(6, 1), "an unknown sequence has nothing to truncate");
            stage.release(5);
            assertEquals(0, stage.length(5));
            assertEquals(0, stage.headLength(5));
            assertEquals(0, stage.cachedSequences());
        }
    }

    @Test
    void chunkedCallsEqualOneCallAndThePositionsAfterThem() {
        var model = RandomModel.small(4);
        Path dir = model.write(tmp.resolve("m"), 2, 1f);
        try (var files = ModelFiles.open(dir);
             var chunked = new CpuStageExecutor(files, StageSpec.whole(model.layers()), new io.ppsd.runtime.cpu.CoreGroup(1, "t"), true, 3, LoadProgress.NONE);
             var whole = new CpuStageExecutor(files, StageSpec.whole(model.layers()), new io.ppsd.runtime.cpu.CoreGroup(1, "t"), true, 64, LoadProgress.NONE)) {
            int dim = files.config().hiddenSize();
            int[] prompt = model.prompt(2, 10);
            float[] a = new float[prompt.length * dim], b = new float[prompt.length * dim];
            chunked.embed(prompt, 0, prompt.length, a);
            whole.embed(prompt, 0, prompt.length, b);
            chunked.forward(1, 0, prompt.length, a);
            whole.forward(1, 0, prompt.length, b);
            assertArrayEquals(b, a, 1e-5f);
            assertEquals(10, chunked.length(1));
            assertEquals(3, chunked.maxBatch());
        }
    }
}
