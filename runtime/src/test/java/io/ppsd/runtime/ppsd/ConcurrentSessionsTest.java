package io.ppsd.runtime.ppsd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.speculative.StagePlan;
import io.ppsd.runtime.stage.StageBatch;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sixteen sessions at once on one in-process pipeline, with random delays on every hop: plain
 * pipelined decoding (one position in flight) and PPSD mixed, prompts from 1 to 89 tokens (the long
 * ones sent while the short ones decode: several prefill chunks each, interleaved with the others'
 * decoding), drafts often wrong (many rollbacks).
 * Each session gives exactly the tokens it gives alone, and stage 0 really batched: some of its
 * calls held rows of several sequences, and prefill chunks shared calls with decode rows.
 */
class ConcurrentSessionsTest {
    @TempDir
    Path tmp;

    @Test
    void sixteenConcurrentSessionsEachGiveTheirOwnTokens() throws Exception {
        var model = RandomModel.small(91);
        Path dir = model.write(tmp.resolve("m"), 2, 0.3f);
        try (var files = ModelFiles.open(dir)) {
            // Sessions 0–7: short prompts, long outputs; 8–15: long prompts (several prefill chunks), sent
            // once the first eight are decoding, so their chunks must share calls with decode rows.
            List<int[]> prompts = new ArrayList<>();
            int[] lengths = new int[16];
            for (int i = 0; i < 16; i++) {
                prompts.add(model.prompt(300 + i, i < 8 ? 1 + i : 40 + 7 * (i - 8)));
                lengths[i] = i < 8 ? 40 : 8;
            }
            List<int[]> expected = new ArrayList<>();
            try (var whole = new CpuStageExecutor(files, StageSpec.whole(model.layers()), 1, LoadProgress.NONE)) {
                var ar = new AutoregressiveDecoder(whole);
                for (int i = 0; i < prompts.size(); i++) {
                    expected.add(ar.generate(GenerationRequest.greedy(prompts.get(i), lengths[i]), TokenListener.NONE).generated());
                }
            }
            var stages = new ArrayList<>(StagePlan.ofSizes(8, 2, 3, 3).open("norm", spec -> new CpuStageExecutor(files, spec, 1, LoadProgress.NONE)));
            var first = new BatchCounting(stages.getFirst());
            stages.set(0, first);
            var threads = Executors.newFixedThreadPool(16);
            try (var pipeline = new InProcessPipeline(stages, 16, new InProcessPipeline.Chaos(7, 400, 100))) {
                List<Future<GenerationResult>> running = new ArrayList<>();
                var decoding = new java.util.concurrent.CountDownLatch(8);
                for (int i = 0; i < prompts.size(); i++) {
                    if (i == 8) assertTrue(decoding.await(60, TimeUnit.SECONDS), "the first sessions did not start decoding");
                    var request = GenerationRequest.greedy(prompts.get(i), lengths[i]);
                    // Plain pipelined, PPSD, and PPSD by load (which switches between the two as it measures).
                    var window = switch (i % 3) {
                        case 0 -> DraftWindow.fixed(1);
                        case 1 -> DraftWindow.defaultFor(3);
                        default -> DraftWindow.defaultFor(3).withLoadAdaptation();
                    };
                    var started = new java.util.concurrent.atomic.AtomicBoolean();
                    TokenListener listener = i < 8 ? t -> {
                        if (started.compareAndSet(false, true)) decoding.countDown();
                    } : TokenListener.NONE;
                    running.add(threads.submit(() -> pipeline.generate(request, listener, window)));
                }
                long rejected = 0;
                for (int i = 0; i < running.size(); i++) {
                    var r = running.get(i).get(5, TimeUnit.MINUTES);
                    assertArrayEquals(expected.get(i), r.generated(), "session " + i);
                    rejected += r.speculation().draftsVerified() - r.speculation().draftsAccepted();
                }
                assertTrue(rejected > 20, "drafts must often be wrong: " + rejected + " rejections");
                assertTrue(first.mostSequences.get() > 1, "stage 0 never put two sequences in one call");
                assertTrue(first.mixedCalls.get() > 0, "no prefill chunk shared a call with decode rows");
            } finally {
                threads.shutdownNow();
                stages.forEach(StageExecutor::close);
            }
            assertEquals(0, first.delegate.length(1), "nothing left in stage 0's caches");
        }
    }

    /** Stage 0's executor, counting how many sequences its batched calls held. */
    private static final class BatchCounting implements StageExecutor {
        final StageExecutor delegate;
        final AtomicInteger mostSequences = new AtomicInteger();
        final AtomicInteger mixedCalls = new AtomicInteger();

        BatchCounting(StageExecutor delegate) {
            this.delegate = delegate;
        }

        @Override
        public void forward(StageBatch batch, float[] hidden) {
            mostSequences.accumulateAndGet(batch.size(), Math::max);
            boolean prefill = false, decode = false;
            for (int i = 0; i < batch.size(); i++) {
                if (batch.rows(i) > 1) prefill = true;
                else decode = true;
            }
            if (prefill && decode) mixedCalls.incrementAndGet();
            delegate.forward(batch, hidden);
        }

        @Override public StageSpec spec() { return delegate.spec(); }
        @Override public ModelConfig config() { return delegate.config(); }
        @Override public void forward(long seq, int startPos, int n, float[] hidden) { delegate.forward(seq, startPos, n, hidden); }
        @Override public void admit(long seq, int maxPositions) { delegate.admit(seq, maxPositions); }
        @Override public void embed(int[] tokens, int off, int n, float[] hidden) { delegate.embed(tokens, off, n, hidden); }
        @Override public void logits(float[] hidden, int rows, float[] out) { delegate.logits(hidden, rows, out); }
        @Override public void draft(long seq, int startPos, int rows, float[] hidden, float[] logits) { delegate.draft(seq, startPos, rows, hidden, logits); }
        @Override public int length(long seq) { return delegate.length(seq); }
        @Override public void truncate(long seq, int length) { delegate.truncate(seq, length); }
        @Override public void release(long seq) { delegate.release(seq); }
        @Override public void close() { delegate.close(); }
    }
}
