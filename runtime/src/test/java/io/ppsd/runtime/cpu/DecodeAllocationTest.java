package io.ppsd.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.decode.Sampler;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.StageSpec;
import io.ppsd.runtime.testing.RandomModel;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The decode loop (embed, forward through the KV cache, logits, argmax) allocates nothing per token. */
class DecodeAllocationTest {
    @TempDir
    Path tmp;

    @Test
    void decodingATokenAllocatesNothing() {
        var model = RandomModel.small(8);
        Path dir = model.write(tmp.resolve("m"), 2, 1f);
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (var files = ModelFiles.open(dir);
             var exec = new CpuStageExecutor(files, StageSpec.whole(model.layers()), 2, LoadProgress.NONE)) {
            float[] hidden = new float[model.hidden()];
            float[] logits = new float[model.vocab()];
            int[] token = {3};
            // Warm up (JIT) and grow the cache to its final capacity, then measure on a truncated cache.
            for (int round = 0; round < 30; round++) {
                exec.truncate(1, 0);
                for (int p = 0; p < 200; p++) step(exec, token, hidden, logits, p);
            }
            exec.truncate(1, 0);
            long before = threads.getCurrentThreadAllocatedBytes();
            for (int p = 0; p < 200; p++) step(exec, token, hidden, logits, p);
            long perToken = (threads.getCurrentThreadAllocatedBytes() - before) / 200;
            assertTrue(perToken < 16, "decode allocated " + perToken + " bytes per token");
        }
    }

    private static void step(CpuStageExecutor exec, int[] token, float[] hidden, float[] logits, int pos) {
        exec.embed(token, 0, 1, hidden);
        exec.forward(1, pos, 1, hidden);
        exec.logits(hidden, 1, logits);
        token[0] = Sampler.argmax(logits, 0, logits.length);
    }
}
