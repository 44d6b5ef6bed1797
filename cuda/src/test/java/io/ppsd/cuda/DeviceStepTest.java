package io.ppsd.cuda;

import io.ppsd.cuda.check.RandomCheckpoint;
import io.ppsd.cuda.check.BackendPair;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.Sampler;
import io.ppsd.runtime.decode.SamplingParams;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.DType;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.LayerRange;
import io.ppsd.runtime.stage.StageBatch;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The device-resident decoding step (embedding, layers, LM head and the token's choice on the
 * device, only the token back) chooses what the host path chooses: greedy, the same tokens as
 * embed + forward + logits + argmax on the same stage, and the CPU's wherever the CPU's top-2
 * margin is clear; sampled at a temperature, the host Sampler's draws with the same seed. So AR
 * decoding gives the same output either way.
 */
class DeviceStepTest {
    @TempDir
    static Path models;

    @BeforeAll
    static void emulatedDriver() {
        EmulatedDriver.require();
    }

    @Test
    void greedyStepsChooseWhatTheHostPathChooses() {
        for (RandomCheckpoint checkpoint : new RandomCheckpoint[] {RandomCheckpoint.aligned(DType.BF16, 81), RandomCheckpoint.ragged(DType.F32, 82)}) {
            try (ModelFiles files = ModelFiles.open(checkpoint.write(models.resolve(checkpoint.name()), 2));
                 var pair = new BackendPair(files, StageSpec.whole(checkpoint.layers()), 32, KvDtype.BF16)) {
                int vocab = checkpoint.vocab(), dim = checkpoint.hidden();
                int[] prompt = checkpoint.prompt(5, 20);
                for (long seq : new long[] {1, 2}) {  // seq 1: device steps; seq 2: the host path on the same stage
                    float[] h = new float[prompt.length * dim];
                    pair.cuda.embed(prompt, 0, prompt.length, h);
                    pair.cuda.forward(seq, 0, prompt.length, h);
                }
                float[][] cpuHidden = pair.embed(prompt, 0, prompt.length);
                pair.cpu.forward(1, 0, prompt.length, cpuHidden[0]);
                int device = 7, host = 7, cpu = 7;
                float[] row = new float[dim], logits = new float[vocab], cpuLogits = new float[vocab];
                for (int pos = prompt.length; pos < prompt.length + 12; pos++) {
                    device = pair.cuda.greedyStep(1, pos, device);
                    pair.cuda.embed(new int[] {host}, 0, 1, row);
                    pair.cuda.forward(2, pos, 1, row);
                    pair.cuda.logits(row, 1, logits);
                    host = Sampler.argmax(logits, 0, vocab);
                    assertEquals(host, device, checkpoint.name() + ": greedy step at " + pos);
                    assertEquals(pos + 1, pair.cuda.length(1));

                    float[] c = new float[dim];
                    pair.cpu.embed(new int[] {cpu}, 0, 1, c);
                    pair.cpu.forward(1, pos, 1, c);
                    pair.cpu.logits(c, 1, cpuLogits);
                    pair.agreement.assertSameGreedy(checkpoint.name() + " greedy step vs CPU at " + pos, cpuLogits, logits, 1, vocab);
                    cpu = Sampler.argmax(cpuLogits, 0, vocab);
                    if (cpu != host) break;  // a close call went the other way: the paths diverge from here, legitimately
                }
                // The cache rule holds: a step at the wrong position is refused and changes nothing.
                int length = pair.cuda.length(1);
                assertThrows(IllegalStateException.class, () -> pair.cuda.greedyStep(1, length - 1, 3));
                assertThrows(IllegalArgumentException.class, () -> pair.cuda.greedyStep(1, length, vocab));
                assertEquals(length, pair.cuda.length(1));
            }
        }
    }

    @Test
    void autoregressiveDecodingGivesTheSameTokensOnTheDeviceAndThroughTheHost() {
        RandomCheckpoint checkpoint = RandomCheckpoint.aligned(DType.BF16, 83);
        try (ModelFiles files = ModelFiles.open(checkpoint.write(models.resolve("ar"), 2));
             var stage = new CudaStageExecutor(files, StageSpec.whole(checkpoint.layers()), new CudaSettings(0, 32, KernelSource.PTX, false),
                     LoadProgress.NONE)) {
            assertTrue(stage.canStepOnDevice());
            var request = GenerationRequest.greedy(checkpoint.prompt(9, 17), 24);
            int[] onDevice = new AutoregressiveDecoder(stage).generate(request, TokenListener.NONE).generated();
            int[] throughHost = new AutoregressiveDecoder(new HostPath(stage)).generate(request, TokenListener.NONE).generated();
            assertEquals(24, onDevice.length);
            assertArrayEquals(throughHost, onDevice);
            // Temperature sampling: the device draws at the uniform numbers the host sampler would use.
            var sampled = new GenerationRequest(checkpoint.prompt(9, 17), 24, SamplingParams.temperature(0.9f, 1234), null, List.of(), null);
            int[] sampledOnDevice = new AutoregressiveDecoder(stage).generate(sampled, TokenListener.NONE).generated();
            int[] sampledThroughHost = new AutoregressiveDecoder(new HostPath(stage)).generate(sampled, TokenListener.NONE).generated();
            assertArrayEquals(sampledThroughHost, sampledOnDevice);
            assertFalse(java.util.Arrays.equals(onDevice, sampledOnDevice), "sampling at 0.9 departs from greedy somewhere in 24 tokens");
            // Top-k needs the row on the host: the decoder does not use the device step for it (and still gives the host's tokens).
            var topK = new GenerationRequest(checkpoint.prompt(9, 17), 12, new SamplingParams(0.9f, 5, 1f, 1f, 7), null, List.of(), null);
            assertArrayEquals(new AutoregressiveDecoder(new HostPath(stage)).generate(topK, TokenListener.NONE).generated(),
                    new AutoregressiveDecoder(stage).generate(topK, TokenListener.NONE).generated());
            // A stage without the whole model cannot take the step.
            try (var part = new CudaStageExecutor(files, new StageSpec(new LayerRange(0, 2), true, false), new CudaSettings(0, 8, KernelSource.PTX, false),
                    LoadProgress.NONE)) {
                assertFalse(part.canStepOnDevice());
                assertThrows(IllegalStateException.class, () -> part.greedyStep(1, 0, 3));
            }
        }
    }

    /**
     * The captured graph replays what direct launches compute, bit for bit (the same kernels and
     * arguments), greedy and sampled steps alike, across cache regrowth (new cache addresses in the row table), context growth
     * (more attention splits in use) and rotary-table regrowth (a new capture); with capture refused
     * by the driver the step falls back to direct launches and gives the same tokens.
     */
    @Test
    void theGraphReplaysWhatDirectLaunchesCompute() {
        RandomCheckpoint checkpoint = RandomCheckpoint.aligned(DType.BF16, 85);
        try (ModelFiles files = ModelFiles.open(checkpoint.write(models.resolve("graph"), 2))) {
            var settings = new CudaSettings(0, 32, KernelSource.PTX, false);
            int[] direct = steps(files, checkpoint, settings.withGraphs(false), false);
            int[] replayed = steps(files, checkpoint, settings, true);
            assertArrayEquals(direct, replayed);
            EmulatedDriver.refuseGraphs(true);
            try {
                assertArrayEquals(direct, steps(files, checkpoint, settings, false));
            } finally {
                EmulatedDriver.refuseGraphs(false);
            }
        }
    }

    private static int[] steps(ModelFiles files, RandomCheckpoint checkpoint, CudaSettings settings, boolean expectGraph) {
        try (var stage = new CudaStageExecutor(files, StageSpec.whole(checkpoint.layers()), settings, LoadProgress.NONE)) {
            int[] prompt = checkpoint.prompt(11, 5);
            float[] h = new float[prompt.length * checkpoint.hidden()];
            stage.embed(prompt, 0, prompt.length, h);
            stage.forward(1, 0, prompt.length, h);
            int[] tokens = new int[140];  // positions 5..144: past the cache's first capacity (64) and the rotary tables' (128)
            int token = 3;
            var uniform = new java.util.SplittableRandom(3);
            for (int i = 0; i < tokens.length; i++) {  // greedy and sampled steps alternate: one graph serves both
                int pos = prompt.length + i;
                tokens[i] = token = i % 2 == 0 ? stage.greedyStep(1, pos, token) : stage.sampledStep(1, pos, token, 0.8f, uniform.nextDouble());
            }
            assertEquals(expectGraph, stage.replaysGraphs());
            return tokens;
        }
    }

    @Test
    void brokenWeightsFailTheStepClearly() throws Exception {
        RandomCheckpoint checkpoint = RandomCheckpoint.aligned(DType.F32, 84);
        Path dir = checkpoint.write(models.resolve("nan"), 2);
        poisonFirstElement(dir.resolve("model.safetensors"), "model.layers.1.mlp.down_proj.weight");
        try (ModelFiles files = ModelFiles.open(dir);
             var stage = new CudaStageExecutor(files, StageSpec.whole(checkpoint.layers()), new CudaSettings(0, 32, KernelSource.PTX, false),
                     LoadProgress.NONE)) {
            var request = GenerationRequest.greedy(checkpoint.prompt(3, 5), 8);
            var e = assertThrows(Sampler.NonFiniteLogitsException.class,
                    () -> new AutoregressiveDecoder(stage).generate(request, TokenListener.NONE));
            assertTrue(e.getMessage().contains("non-finite"), e.getMessage());
            // The step itself checks what it chose (the decoder above stopped at the prompt's logits, on the host).
            float[] h = new float[4 * checkpoint.hidden()];
            stage.embed(new int[] {3, 4, 5, 6}, 0, 4, h);
            stage.forward(5, 0, 4, h);
            var step = assertThrows(Sampler.NonFiniteLogitsException.class, () -> stage.greedyStep(5, 4, 7));
            assertTrue(step.getMessage().contains("NaN or +inf"), step.getMessage());
        }
    }

    /** Writes a NaN over the first element of an F32 tensor, in place. */
    private static void poisonFirstElement(Path safetensors, String tensor) throws Exception {
        try (var ch = java.nio.channels.FileChannel.open(safetensors, java.nio.file.StandardOpenOption.READ, java.nio.file.StandardOpenOption.WRITE)) {
            var len = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            ch.read(len, 0);
            int headerBytes = (int) len.getLong(0);
            var header = java.nio.ByteBuffer.allocate(headerBytes);
            ch.read(header, 8);
            var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(new String(header.array(), java.nio.charset.StandardCharsets.UTF_8));
            long offset = 8 + headerBytes + json.get(tensor).get("data_offsets").get(0).asLong();
            ch.write(java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putFloat(0, Float.NaN), offset);
        }
    }

    /** The stage seen only through StageExecutor: the AR decoder's host path (embed, forward, logits, argmax in Java). */
    private record HostPath(StageExecutor stage) implements StageExecutor {
        public StageSpec spec() { return stage.spec(); }
        public ModelConfig config() { return stage.config(); }
        public void forward(long seq, int startPos, int n, float[] hidden) { stage.forward(seq, startPos, n, hidden); }
        public void forward(StageBatch batch, float[] hidden) { stage.forward(batch, hidden); }
        public void embed(int[] tokens, int off, int n, float[] hidden) { stage.embed(tokens, off, n, hidden); }
        public void logits(float[] hidden, int rows, float[] out) { stage.logits(hidden, rows, out); }
        public void draft(long seq, int startPos, int rows, float[] hidden, float[] logits) { stage.draft(seq, startPos, rows, hidden, logits); }
        public int length(long seq) { return stage.length(seq); }
        public void truncate(long seq, int length) { stage.truncate(seq, length); }
        public void release(long seq) { stage.release(seq); }
        public void close() {}
    }
}
