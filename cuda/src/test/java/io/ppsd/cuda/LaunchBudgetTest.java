package io.ppsd.cuda;

import io.ppsd.cuda.check.RandomCheckpoint;
import io.ppsd.cuda.check.Agreement;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.cpu.CoreGroup;
import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.model.DType;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.LayerRange;
import io.ppsd.runtime.stage.StageSpec;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a decode step asks of the driver, counted by the emulated driver on a layer shaped like
 * Llama-3-8B's (hidden 4096, 32 query heads over 8 KV heads of 128, MLP 14336, BF16 weights and
 * BF16 KV cache): five kernel launches per layer for decode and for verification rows, and per
 * stage call one host-to-device copy (the rows with their table), one device-to-host copy and one
 * synchronization. The same steps also agree with the CPU backend at these shapes (GQA groups of
 * 4, head_dim 128, attention split over positions).
 *
 * <p>A decoded token on a whole-model stage ({@code greedyStep}, {@code sampledStep}: AR decoding's
 * path, greedy or at a temperature) is one copy of at most 1 KB in (the row table, the token id,
 * the sampling parameters), one of at most 64 bytes out (the token and its logit) and one
 * synchronization. Through the StageExecutor seam (top-k/top-p sampling, pipeline stages) the
 * hidden rows still cross the host once each way per stage call.
 */
class LaunchBudgetTest {
    private static final Logger log = LoggerFactory.getLogger(LaunchBudgetTest.class);
    private static final int LAUNCHES_PER_LAYER = 5;

    @TempDir
    static Path dir;
    static RandomCheckpoint shape;
    static ModelFiles files;

    @BeforeAll
    static void sevenBillionShapedLayer() {
        EmulatedDriver.requireEmulator();
        shape = new RandomCheckpoint(1, 4096, 32, 8, 128, 14336, 512, 4096, DType.BF16, 71);
        files = ModelFiles.open(shape.writeModel(dir.resolve("8b-shaped")));
    }

    @AfterAll
    static void close() {
        if (files != null) files.close();
    }

    @Test
    void decodeAndVerificationStayWithinTheirBudget() {
        var settings = new CudaSettings(0, 32, KernelSource.PTX, false);  // BF16 KV cache: the default
        try (var cuda = new CudaStageExecutor(files, StageSpec.whole(1), settings, LoadProgress.NONE);
             var cpu = new CpuStageExecutor(files, StageSpec.whole(1), new CoreGroup(2, "cpu"), true, CpuStageExecutor.DEFAULT_MAX_BATCH,
                     DType.BF16, LoadProgress.NONE)) {
            int dim = shape.hidden(), vocab = shape.vocab();
            int[] prompt = shape.prompt(3, 8);  // GEMV-sized: the emulated tensor-core GEMM is slow at these shapes
            float[] h = new float[prompt.length * dim];
            cuda.embed(prompt, 0, prompt.length, h);
            cuda.forward(1, 0, prompt.length, h);
            float[] expected = new float[prompt.length * dim];
            cpu.embed(prompt, 0, prompt.length, expected);
            cpu.forward(1, 0, prompt.length, expected);
            Agreement.BF16_KV.assertClose("prefill hidden", expected, h, expected.length);
            EmulatedDriver.counts();  // prefill and loading are not counted

            int pos = prompt.length, token = 7;
            float[] logits = new float[vocab];
            for (int step = 0; step < 3; step++, pos++) {
                float[] row = new float[dim], cpuRow = new float[dim];
                cuda.embed(new int[] {token}, 0, 1, row);
                var embed = EmulatedDriver.counts();
                cuda.forward(1, pos, 1, row);
                var forward = EmulatedDriver.counts();
                cuda.logits(row, 1, logits);
                var head = EmulatedDriver.counts();
                log.info("decode step {}: embedding {}; layers {}; LM head {}", step, embed, forward, head);
                assertEquals(LAUNCHES_PER_LAYER, forward.launches(), "launches of one decode layer");
                assertStageCall(forward, dim, 1);
                assertEquals(1, embed.launches());
                assertEquals(1, head.launches(), "final norm and LM head in one launch");

                cpu.embed(new int[] {token}, 0, 1, cpuRow);
                cpu.forward(1, pos, 1, cpuRow);
                Agreement.BF16_KV.assertClose("decode hidden at " + pos, cpuRow, row, dim);
                token = io.ppsd.runtime.decode.Sampler.argmax(logits, 0, vocab);
            }

            int[] draft = shape.prompt(4, 4);  // verification: four rows in one call, still the fused path
            float[] rows = new float[draft.length * dim];
            cuda.embed(draft, 0, draft.length, rows);
            EmulatedDriver.counts();
            cuda.forward(1, pos, draft.length, rows);
            var verify = EmulatedDriver.counts();
            log.info("verification of {} rows: {}", draft.length, verify);
            assertEquals(LAUNCHES_PER_LAYER, verify.launches(), "launches of one verification layer");
            assertStageCall(verify, dim, draft.length);
        }
    }

    @Test
    void aDecodedTokenIsOneGraphLaunchOneSmallCopyEachWayAndOneSynchronization() {
        for (boolean graphs : new boolean[] {true, false}) {
            var settings = new CudaSettings(0, 32, KernelSource.PTX, false).withGraphs(graphs);
            try (var stage = new CudaStageExecutor(files, StageSpec.whole(1), settings, LoadProgress.NONE)) {
                int[] prompt = shape.prompt(6, 8);
                float[] h = new float[prompt.length * shape.hidden()];
                stage.embed(prompt, 0, prompt.length, h);
                stage.forward(3, 0, prompt.length, h);
                EmulatedDriver.counts();
                int token = 9;
                for (int pos = prompt.length; pos < prompt.length + 4; pos++) {  // greedy, sampled, greedy, sampled
                    boolean sampled = pos % 2 == 1;
                    token = sampled ? stage.sampledStep(3, pos, token, 0.7f, 0.37) : stage.greedyStep(3, pos, token);
                    var c = EmulatedDriver.counts();
                    log.info("{} step at {}, graphs {}: {}", sampled ? "sampled" : "greedy", pos, graphs ? "on" : "off", c);
                    if (graphs) {
                        assertEquals(0, c.launches(), "kernels run as the graph's nodes: " + c);
                        assertEquals(1, c.graphLaunches(), c.toString());
                    } else {
                        assertEquals(1 + LAUNCHES_PER_LAYER + 2, c.launches(), "embedding, the layer, LM head, the token's choice: " + c);
                        assertEquals(0, c.graphLaunches(), c.toString());
                    }
                    assertEquals(1, c.hostToDeviceCopies(), c.toString());
                    assertTrue(c.hostToDeviceBytes() <= 1024, "the row table, the token id and its sampling parameters: " + c);
                    assertEquals(1, c.deviceToHostCopies(), c.toString());
                    assertTrue(c.deviceToHostBytes() <= 64, "the token and its logit: " + c);
                    assertEquals(1, c.synchronizations(), c.toString());
                }
                assertEquals(graphs, stage.replaysGraphs());
            }
        }
    }

    @Test
    void aMiddleStageCallIsOneCopyInOneCopyOutOneSynchronization() {
        var settings = new CudaSettings(0, 32, KernelSource.PTX, false);
        try (var stage = new CudaStageExecutor(files, new StageSpec(new LayerRange(0, 1), false, false), settings, LoadProgress.NONE)) {
            int dim = shape.hidden();
            var random = new java.util.SplittableRandom(5);
            float[] h = new float[8 * dim];
            for (int i = 0; i < h.length; i++) h[i] = (float) random.nextGaussian();
            stage.forward(2, 0, 8, h);
            EmulatedDriver.counts();
            for (int pos = 8; pos < 11; pos++) {
                float[] row = java.util.Arrays.copyOfRange(h, 0, dim);
                stage.forward(2, pos, 1, row);
                var c = EmulatedDriver.counts();
                assertEquals(LAUNCHES_PER_LAYER, c.launches());
                assertStageCall(c, dim, 1);
                for (float v : row) assertTrue(Float.isFinite(v));
            }
        }
    }

    /** One copy of the rows (and their table) in, one copy of the rows out, one synchronization. */
    private static void assertStageCall(EmulatedDriver.Counts c, int dim, int rows) {
        assertEquals(1, c.hostToDeviceCopies(), "host-to-device copies of a stage call: " + c);
        assertEquals(1, c.deviceToHostCopies(), "device-to-host copies of a stage call: " + c);
        assertEquals((long) rows * dim * Float.BYTES, c.deviceToHostBytes(), c.toString());
        assertEquals(1, c.synchronizations(), "synchronizations of a stage call: " + c);
        assertEquals(0, c.deviceToDeviceCopies(), c.toString());
    }
}
