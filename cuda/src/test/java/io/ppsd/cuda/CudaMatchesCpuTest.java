package io.ppsd.cuda;

import io.ppsd.cuda.check.RandomCheckpoint;
import io.ppsd.cuda.check.AgreementRun;
import io.ppsd.cuda.check.BackendPair;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.decode.Sampler;
import io.ppsd.runtime.model.DType;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.LayerRange;
import io.ppsd.runtime.stage.StageSpec;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The CUDA backend (Java → JavaCPP → emulated driver → host-compiled kernels) computes what the CPU
 * backend computes, on random models in every weight dtype: batched prefill (longer than a batch),
 * decode, multi-token verification, rollback and recompute, interleaved sequences, split stages and
 * every exit head kind.
 */
class CudaMatchesCpuTest {
    private static final Logger log = LoggerFactory.getLogger(CudaMatchesCpuTest.class);
    private static final int EXIT_LAYER = 2;

    @TempDir
    static Path models;

    @BeforeAll
    static void emulatedDriver() {
        EmulatedDriver.require();
    }

    /** Every weight dtype and both row-length paths, with the KV cache in F32 and in BF16 (the CPU rounding its cache alike). */
    static Stream<Arguments> checkpoints() {
        return Stream.of(KvDtype.F32, KvDtype.BF16).flatMap(kv -> Stream.of(
                Arguments.of(RandomCheckpoint.aligned(DType.F32, 11), kv),
                Arguments.of(RandomCheckpoint.aligned(DType.F16, 12), kv),
                Arguments.of(RandomCheckpoint.aligned(DType.BF16, 13), kv),
                Arguments.of(RandomCheckpoint.ragged(DType.F32, 14), kv),
                Arguments.of(RandomCheckpoint.ragged(DType.BF16, 15), kv)));
    }

    @ParameterizedTest(name = "{0}, KV {1}")
    @MethodSource("checkpoints")
    void wholeModelPrefillDecodeVerifyRollback(RandomCheckpoint checkpoint, KvDtype kv) {
        double worst = AgreementRun.wholeModel(checkpoint, kv, models.resolve(checkpoint.name() + "-kv-" + kv));
        log.info("{}, KV {}: worst relative difference {}", checkpoint.name(), kv, worst);
    }

    /** Qwen2 (q/k/v biases) and Qwen3 (per-head q/k norms): the runtime's PyTorch-pinned fixtures, prefill and decode. */
    @ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"tiny-qwen2", "tiny-qwen3"})
    void qwenArchitecturesMatchCpu(String name) {
        Path dir = Path.of("../runtime/src/test/resources/reference", name);
        try (ModelFiles files = ModelFiles.open(dir);
             var pair = new BackendPair(files, StageSpec.whole(files.config().numLayers()), 32)) {
            int vocab = files.config().vocabSize();
            int[] prompt = {3, 17, 200, 45, 9, 128, 77, 1, 250, 64};
            float[][] hidden = pair.embed(prompt, 0, prompt.length);
            pair.forward(1, 0, prompt.length, hidden);
            float[][] logits = pair.logits(hidden, prompt.length);
            pair.agreement.assertSameGreedy(name + " prefill", logits[0], logits[1], prompt.length, vocab);
            int next = Sampler.argmax(logits[0], (prompt.length - 1) * vocab, vocab);
            for (int pos = prompt.length; pos < prompt.length + 6; pos++) {
                float[][] h = pair.embed(new int[] {next}, 0, 1);
                pair.forward(1, pos, 1, h);
                float[][] l = pair.logits(h, 1);
                pair.agreement.assertSameGreedy(name + " decode " + pos, l[0], l[1], 1, vocab);
                next = Sampler.argmax(l[0], 0, vocab);
            }
            log.info("{}: worst relative difference {}", name, pair.worst);
        }
    }

    /** A call carrying rows of several sequences (prefill, verification, decode) on the device equals the CPU's single calls. */
    @Test
    void batchedCallOfSeveralSequencesMatchesCpu() {
        RandomCheckpoint checkpoint = RandomCheckpoint.aligned(DType.BF16, 61);
        try (ModelFiles files = ModelFiles.open(write(checkpoint));
             var pair = new BackendPair(files, StageSpec.whole(checkpoint.layers()), 4)) {
            int dim = checkpoint.hidden();
            int[] held = {5, 0, 3, 9}, added = {1, 6, 3, 1};
            int[][] tokens = new int[4][];
            for (int s = 0; s < 4; s++) {
                tokens[s] = checkpoint.prompt(70 + s, held[s] + added[s]);
                if (held[s] > 0) pair.forward(s + 1, 0, held[s], pair.embed(tokens[s], 0, held[s]));
            }
            var batch = new io.ppsd.runtime.stage.StageBatch();
            int total = java.util.Arrays.stream(added).sum();
            float[] rows = new float[total * dim];
            for (int s = 0, row = 0; s < 4; row += added[s], s++) {
                batch.add(s + 1, held[s], added[s]);
                float[] h = new float[added[s] * dim];
                pair.cpu.embed(tokens[s], held[s], added[s], h);
                System.arraycopy(h, 0, rows, row * dim, h.length);
            }
            pair.cuda.forward(batch, rows);  // rows of 4 sequences, in compute calls of at most 4 rows
            for (int s = 0; s < 4; s++) {
                float[] expected = new float[added[s] * dim];
                pair.cpu.embed(tokens[s], held[s], added[s], expected);
                pair.cpu.forward(s + 1, held[s], added[s], expected);
                int off = batch.rowOffset(s) * dim;
                pair.agreement.assertClose("segment " + s + " of " + batch, expected, java.util.Arrays.copyOfRange(rows, off, off + expected.length), expected.length);
                assertEquals(held[s] + added[s], pair.cuda.length(s + 1));
            }
        }
    }

    static Stream<Arguments> heads() {
        // "+v40": the head drafting among 40 of the vocabulary's tokens (a reduced draft vocabulary).
        return Stream.concat(Stream.of(DType.F32, DType.BF16, DType.F16).flatMap(dtype -> Stream.of(
                Arguments.of(dtype, "norm"), Arguments.of(dtype, "linear-l" + EXIT_LAYER), Arguments.of(dtype, "transformer-l" + EXIT_LAYER))),
                Stream.of(DType.F32, DType.BF16).flatMap(dtype -> Stream.of(Arguments.of(dtype, "norm+v40"), Arguments.of(dtype, "linear-l" + EXIT_LAYER + "+v40"),
                        Arguments.of(dtype, "transformer-l" + EXIT_LAYER + "+v40"))));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("heads")
    void exitHeadDraftsLikeCpu(DType dtype, String head) {
        RandomCheckpoint checkpoint = RandomCheckpoint.aligned(dtype, 21);
        var spec = new StageSpec(new LayerRange(0, EXIT_LAYER), true, false, head);
        try (ModelFiles files = ModelFiles.open(write(checkpoint)); var pair = new BackendPair(files, spec, 16)) {
            int vocab = checkpoint.vocab();
            long seq = 3;
            int[] prompt = checkpoint.prompt(9, 37);  // three chunks of the CUDA stage's batch of 16
            float[][] hidden = pair.embed(prompt, 0, prompt.length);
            pair.forward(seq, 0, prompt.length, hidden);
            float[][] drafted = pair.draft(seq, 0, prompt.length, hidden);
            pair.agreement.assertSameGreedy(head + " prefill draft", drafted[0], drafted[1], 1, vocab);

            int pos = prompt.length;
            for (int step = 0; step < 4; step++, pos++) {
                int token = Sampler.argmax(drafted[0], 0, vocab);
                float[][] h = pair.embed(new int[] {token}, 0, 1);
                pair.forward(seq, pos, 1, h);
                drafted = pair.draft(seq, pos, 1, h);
                pair.agreement.assertSameGreedy(head + " draft " + step, drafted[0], drafted[1], 1, vocab);
            }

            pair.truncate(seq, pos - 2);  // rejected drafts: the head's own cache rolls back too
            int[] redo = checkpoint.prompt(10, 2);
            float[][] h = pair.embed(redo, 0, redo.length);
            pair.forward(seq, pos - 2, redo.length, h);
            drafted = pair.draft(seq, pos - 2, redo.length, h);
            pair.agreement.assertSameGreedy(head + " after rollback", drafted[0], drafted[1], 1, vocab);
            pair.release(seq);
        }
    }

    static Stream<String> batchedHeads() {
        return Stream.of("norm", "linear-l" + EXIT_LAYER, "transformer-l" + EXIT_LAYER, "transformer-l" + EXIT_LAYER + "+v40");
    }

    /**
     * Stage 0's head over the decode rows of six sequences at once: each segment's logits as the CPU
     * backend drafts it alone, for the cost of one call whatever the number of rows: the projection
     * in one launch (read once, not once per sequence), one copy of the rows in, one of the logits
     * out, one synchronization; a transformer head adds its layer's launches, one copy each way and
     * one synchronization.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("batchedHeads")
    void batchedDraftsMatchCpuAndCostOneCallForAllRows(String head) {
        RandomCheckpoint checkpoint = RandomCheckpoint.aligned(DType.BF16, 23);
        var spec = new StageSpec(new LayerRange(0, EXIT_LAYER), true, false, head);
        try (ModelFiles files = ModelFiles.open(write(checkpoint)); var pair = new BackendPair(files, spec, 16, KvDtype.F32, false)) {
            int dim = checkpoint.hidden(), vocab = checkpoint.vocab(), n = 6;
            int[][] prompts = new int[n][];
            var batch = new io.ppsd.runtime.stage.StageBatch();
            for (int s = 0; s < n; s++) {
                prompts[s] = checkpoint.prompt(40 + s, 3 + s);
                float[][] h = pair.embed(prompts[s], 0, prompts[s].length);
                pair.forward(s + 1, 0, prompts[s].length, h);
                pair.draft(s + 1, 0, prompts[s].length, h);
                batch.add(s + 1, prompts[s].length, 1);
            }
            float[][] rows = {new float[n * dim], new float[n * dim]};
            for (int s = 0; s < n; s++) {
                float[][] h = pair.embed(new int[] {s + 5}, 0, 1);
                System.arraycopy(h[0], 0, rows[0], s * dim, dim);
                System.arraycopy(h[1], 0, rows[1], s * dim, dim);
            }
            pair.cpu.forward(batch, rows[0]);
            pair.cuda.forward(batch, rows[1]);
            float[][] logits = {new float[n * vocab], new float[n * vocab]};
            for (int s = 0; s < n; s++) {  // the CPU backend drafts each sequence alone
                float[] one = new float[vocab];
                pair.cpu.draft(s + 1, prompts[s].length, 1, java.util.Arrays.copyOfRange(rows[0], s * dim, (s + 1) * dim), one);
                System.arraycopy(one, 0, logits[0], s * vocab, vocab);
            }
            EmulatedDriver.counts();
            pair.cuda.draft(batch, rows[1], logits[1]);
            var c = EmulatedDriver.counts();
            log.info("{}: batched draft of {} rows: {}", head, n, c);
            pair.agreement.assertSameGreedy(head + " batched draft", logits[0], logits[1], n, vocab);
            boolean layer = head.startsWith("transformer");
            assertEquals(layer ? 6 : 1, c.launches(), "the head's layer (five launches) and one projection for all rows: " + c);
            assertEquals(layer ? 2 : 1, c.hostToDeviceCopies(), c.toString());
            assertEquals(layer ? 2 : 1, c.deviceToHostCopies(), c.toString());
            assertEquals(layer ? 2 : 1, c.synchronizations(), c.toString());
            for (int s = 0; s < n; s++) assertEquals(layer ? prompts[s].length + 1 : 0, pair.cuda.headLength(s + 1));

            // The greedy drafts alone (the drafter's call when every row is greedy): picked on the device,
            // 8 bytes a row back; a reduced-vocabulary head's logits still come back (its ids are the host's).
            for (int s = 0; s < n; s++) pair.cuda.truncate(s + 1, prompts[s].length);
            EmulatedDriver.counts();
            int[] drafts = new int[n];
            pair.cuda.draftGreedy(batch, rows[1], drafts);
            var g = EmulatedDriver.counts();
            log.info("{}: greedy drafts of {} rows: {}", head, n, g);
            for (int s = 0; s < n; s++) assertEquals(Sampler.argmax(logits[1], s * vocab, vocab), drafts[s], head + ": greedy draft " + s);
            boolean reduced = head.endsWith("+v40");
            assertEquals((layer ? 5 : 0) + (reduced ? 1 : 2), g.launches(), "the head's layer, the projection, the argmax: " + g);
            assertEquals(layer ? 2 : 1, g.deviceToHostCopies(), g.toString());
            if (!reduced) assertEquals((layer ? (long) n * dim * Float.BYTES : 0) + 8L * n, g.deviceToHostBytes(), "the ids and their logits: " + g);
        }
    }

    /**
     * Stage 0's whole call on the device (embedding, layers, head, argmax) for a prefill chunk and six
     * decode rows over compute calls of 4 rows: the rows that go downstream and each segment's greedy
     * draft as the CPU backend's embed, forward and draft; per compute call only the row table and
     * token ids go in, the output rows and 8 bytes per drafted row come back, with one
     * synchronization (a transformer head: its row table in too, and a second synchronization).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("batchedHeads")
    void stageZeroInOnePieceMatchesCpuAndOnlyIdsAndRowsCross(String head) {
        RandomCheckpoint checkpoint = RandomCheckpoint.aligned(DType.BF16, 29);
        var spec = new StageSpec(new LayerRange(0, EXIT_LAYER), true, false, head);
        int maxBatch = 4;
        try (ModelFiles files = ModelFiles.open(write(checkpoint)); var pair = new BackendPair(files, spec, maxBatch, KvDtype.F32, false)) {
            int dim = checkpoint.hidden(), vocab = checkpoint.vocab(), n = 6, prefill = 5;
            var tokens = new java.util.HashMap<Long, int[]>();
            var batch = new io.ppsd.runtime.stage.StageBatch();
            tokens.put(7L, checkpoint.prompt(70, prefill));
            batch.add(7, 0, prefill); // a new prompt's first chunk, as stage 0 puts it: first
            for (int s = 0; s < n; s++) {
                int[] prompt = checkpoint.prompt(50 + s, 2 + s);
                float[][] h = pair.embed(prompt, 0, prompt.length);
                pair.forward(s + 1, 0, prompt.length, h);
                pair.draft(s + 1, 0, prompt.length, h);
                int[] sequence = java.util.Arrays.copyOf(prompt, prompt.length + 1);
                sequence[prompt.length] = 5 + s;
                tokens.put(s + 1L, sequence);
                batch.add(s + 1, prompt.length, 1);
            }
            int rows = batch.totalRows();
            float[] cpuRows = new float[rows * dim], cpuLogits = new float[batch.size() * vocab];
            pair.cpu.embed(batch, tokens::get, cpuRows);
            pair.cpu.forward(batch, cpuRows);
            pair.cpu.draft(batch, cpuRows, cpuLogits);

            float[] cudaRows = new float[rows * dim];
            int[] drafts = new int[batch.size()];
            EmulatedDriver.counts();
            pair.cuda.embedForwardDraftGreedy(batch, tokens::get, cudaRows, drafts);
            var c = EmulatedDriver.counts();
            log.info("{}: stage 0 in one piece, {} rows in {} compute calls: {}", head, rows, (rows + maxBatch - 1) / maxBatch, c);
            pair.agreement.assertClose(head + " stage-0 rows", cpuRows, cudaRows, rows * dim);
            int decided = pair.agreement.assertSameGreedy(head + " stage-0 drafts", cpuLogits, drafts, batch.size(), vocab);
            assertTrue(decided >= batch.size() - 1, "too many near ties to check: " + decided + " of " + batch.size());
            for (long seq = 1; seq <= n; seq++) {
                assertEquals(tokens.get(seq).length, pair.cuda.length(seq));
                assertEquals(head.startsWith("transformer") ? tokens.get(seq).length : 0, pair.cuda.headLength(seq));
            }
            assertEquals(prefill, pair.cuda.length(7));

            boolean reduced = head.endsWith("+v40"), layer = head.startsWith("transformer");
            int calls = (rows + maxBatch - 1) / maxBatch;
            if (!reduced) {
                // 11 rows in calls of 4, 4, 3: the first holds prefill rows only (no draft), the prefill
                // chunk ends in the second.
                assertEquals(calls * (layer ? 2 : 1), c.hostToDeviceCopies(), "the row table and ids (and the head's table): " + c);
                assertEquals(2L * calls - 1, c.deviceToHostCopies(), "the rows, and the drafts' ids where a segment ends: " + c);
                assertEquals((long) rows * dim * Float.BYTES + 8L * (4 + 3), c.deviceToHostBytes(),
                        "every output row, 8 bytes a drafted row (the span from the prefill's last row over the decode rows): " + c);
                assertEquals(calls * (layer ? 2 : 1), c.synchronizations(), c.toString());
                long layers = 1 + 5L * EXIT_LAYER + (layer ? 5 : 0);
                assertEquals(calls * layers + 2 * (calls - 1), c.launches(), "embedding, the layers, the head's layer, the projection, the argmax: " + c);

                // The same call as three (embed, forward, draftGreedy): rows cross the host between them.
                for (long seq = 1; seq <= n; seq++) pair.cuda.truncate(seq, tokens.get(seq).length - 1);
                pair.cuda.truncate(7, 0);
                EmulatedDriver.counts();
                float[] again = new float[rows * dim];
                pair.cuda.embed(batch, tokens::get, again);
                pair.cuda.forward(batch, again);
                pair.cuda.draftGreedy(batch, again, new int[batch.size()]);
                var three = EmulatedDriver.counts();
                log.info("{}: the same as embed, forward and draftGreedy: {}", head, three);
                assertTrue(c.hostToDeviceBytes() < three.hostToDeviceBytes() && c.deviceToHostCopies() < three.deviceToHostCopies()
                        && c.synchronizations() < three.synchronizations(), "in one piece: " + c + "; in three: " + three);
            }

            // A segment at the wrong position changes nothing: the rule is checked before any computation.
            var wrong = new io.ppsd.runtime.stage.StageBatch().add(1, 0, 1).add(2, tokens.get(2L).length, 1);
            tokens.put(2L, java.util.Arrays.copyOf(tokens.get(2L), tokens.get(2L).length + 1));
            assertThrows(IllegalStateException.class, () -> pair.cuda.embedForwardDraftGreedy(wrong, tokens::get, new float[2 * dim], new int[2]));
            assertEquals(tokens.get(2L).length - 1, pair.cuda.length(2));
        }
    }

    @Test
    void pipelineOfTwoStagesMatchesCpu() {
        RandomCheckpoint checkpoint = RandomCheckpoint.aligned(DType.BF16, 31);
        try (ModelFiles files = ModelFiles.open(write(checkpoint));
             var first = new BackendPair(files, new StageSpec(new LayerRange(0, 2), true, false), 32);
             var last = new BackendPair(files, new StageSpec(new LayerRange(2, 4), false, true), 32)) {
            int[] prompt = checkpoint.prompt(11, 20);
            float[][] hidden = first.embed(prompt, 0, prompt.length);
            first.forward(1, 0, prompt.length, hidden);
            last.forward(1, 0, prompt.length, hidden);
            float[][] logits = last.logits(hidden, prompt.length);
            last.agreement.assertSameGreedy("two stages", logits[0], logits[1], prompt.length, checkpoint.vocab());
            assertThrows(IllegalStateException.class, () -> last.cuda.embed(prompt, 0, 1, new float[checkpoint.hidden()]));
            assertThrows(IllegalStateException.class, () -> first.cuda.logits(hidden[1], 1, new float[checkpoint.vocab()]));
        }
    }

    @ParameterizedTest(name = "KV {0}")
    @org.junit.jupiter.params.provider.EnumSource(KvDtype.class)
    void longContextAttentionMatchesCpu(KvDtype kv) {
        // 150 positions: the prefill rows' attention walks five 32-position tiles over four warps;
        // the decode row's is split over positions (one block per split) and merged.
        RandomCheckpoint checkpoint = RandomCheckpoint.longContext(DType.BF16, 41);
        try (ModelFiles files = ModelFiles.open(write(checkpoint));
             var pair = new BackendPair(files, StageSpec.whole(checkpoint.layers()), 64, kv)) {
            int[] prompt = checkpoint.prompt(12, 150);
            float[][] hidden = pair.embed(prompt, 0, prompt.length);
            pair.forward(1, 0, prompt.length, hidden);
            float[][] logits = pair.logits(hidden, prompt.length);
            pair.agreement.assertSameGreedy("long prefill", logits[0], logits[1], prompt.length, checkpoint.vocab());
            float[][] h = pair.embed(new int[] {5}, 0, 1);
            pair.forward(1, prompt.length, 1, h);
            pair.logits(h, 1);
            log.info("{}, KV {}: worst relative difference {}", checkpoint.name(), kv, pair.worst);
        }
    }

    @Test
    void stagesGiveBackAllDeviceMemory() {
        EmulatedDriver.requireEmulator();  // a real driver's own allocations would move the numbers
        RandomCheckpoint checkpoint = RandomCheckpoint.aligned(DType.F16, 51);
        try (ModelFiles files = ModelFiles.open(write(checkpoint)); CudaDevice probe = CudaDevice.open(0)) {
            long before = deviceBytesInUse(probe);
            var settings = new CudaSettings(0, 32, KernelSource.PTX, false);
            try (var stage = new CudaStageExecutor(files, new StageSpec(new LayerRange(0, EXIT_LAYER), true, false, "transformer-l" + EXIT_LAYER),
                    settings, LoadProgress.NONE)) {
                float[] hidden = new float[3 * checkpoint.hidden()];
                stage.embed(new int[] {4, 5, 6}, 0, 3, hidden);
                stage.forward(1, 0, 3, hidden);
                stage.draft(1, 0, 3, hidden, new float[checkpoint.vocab()]);
                assertTrue(deviceBytesInUse(probe) > before);
            }
            assertEquals(before, deviceBytesInUse(probe), "after close");
            // A stage that fails while loading (head exits at layer 2, stage ends at 3) frees what it took.
            var wrong = new StageSpec(new LayerRange(0, EXIT_LAYER + 1), true, false, "linear-l" + EXIT_LAYER);
            assertThrows(IllegalArgumentException.class, () -> new CudaStageExecutor(files, wrong, settings, LoadProgress.NONE));
            assertEquals(before, deviceBytesInUse(probe), "after a failed construction");
        }
    }

    private static long deviceBytesInUse(CudaDevice device) {
        device.makeCurrent();
        try (var free = new org.bytedeco.javacpp.SizeTPointer(1); var total = new org.bytedeco.javacpp.SizeTPointer(1)) {
            DriverCall.check(org.bytedeco.cuda.global.cudart.cuMemGetInfo(free, total), "cuMemGetInfo");
            return total.get() - free.get();
        }
    }

    private static Path write(RandomCheckpoint checkpoint) {
        Path dir = models.resolve(checkpoint.name() + "-" + checkpoint.seed());
        return java.nio.file.Files.isDirectory(dir) ? dir : checkpoint.write(dir, EXIT_LAYER);
    }
}
