package io.ppsd.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.cuda.check.RandomCheckpoint;
import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.DType;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.ppsd.DraftWindow;
import io.ppsd.runtime.ppsd.InProcessPipeline;
import io.ppsd.runtime.stage.LayerRange;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * PPSD end to end on two CUDA stages (the emulated driver): stage 0 batches several sessions'
 * decode rows with prefill chunks and computes each call in one piece on the device (token ids in,
 * rows and draft ids out); every session's greedy tokens are those of autoregressive decoding on
 * the CPU backend, the reference from outside the code under test.
 */
class CudaPipelineTest {
    private static final int EXIT_LAYER = 2;

    @TempDir
    static Path models;

    @BeforeAll
    static void emulatedDriver() {
        EmulatedDriver.require();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"norm", "transformer-l2"})
    void concurrentSessionsOnCudaStagesGiveTheTokensOfArOnTheCpu(String head) throws Exception {
        RandomCheckpoint checkpoint = RandomCheckpoint.aligned(DType.BF16, 37);
        Path dir = checkpoint.write(models.resolve(head), EXIT_LAYER);
        try (ModelFiles files = ModelFiles.open(dir)) {
            int sessions = 4, tokens = 10;
            List<int[]> prompts = new ArrayList<>();
            List<int[]> expected = new ArrayList<>();
            try (var whole = new CpuStageExecutor(files, StageSpec.whole(checkpoint.layers()), 1, LoadProgress.NONE)) {
                var ar = new AutoregressiveDecoder(whole);
                for (int i = 0; i < sessions; i++) {
                    prompts.add(checkpoint.prompt(90 + i, 3 + 7 * i)); // up to 24 positions: prefill chunks of 8 share calls with decode rows
                    expected.add(ar.generate(GenerationRequest.greedy(prompts.get(i), tokens), TokenListener.NONE).generated());
                }
            }
            var settings = new CudaSettings(0, 4, KernelSource.PTX, false);
            List<StageExecutor> stages = List.of(
                    new CudaStageExecutor(files, new StageSpec(new LayerRange(0, EXIT_LAYER), true, false, head), settings, LoadProgress.NONE),
                    new CudaStageExecutor(files, new StageSpec(new LayerRange(EXIT_LAYER, checkpoint.layers()), false, true), settings, LoadProgress.NONE));
            assertTrue(((CudaStageExecutor) stages.get(0)).fusesStageZero(), "stage 0 computes its calls in one piece");
            var threads = Executors.newFixedThreadPool(sessions);
            try (var pipeline = new InProcessPipeline(stages, 8, InProcessPipeline.Chaos.NONE)) {
                List<Future<GenerationResult>> running = new ArrayList<>();
                for (int i = 0; i < sessions; i++) {
                    var request = GenerationRequest.greedy(prompts.get(i), tokens);
                    running.add(threads.submit(() -> pipeline.generate(request, TokenListener.NONE, DraftWindow.defaultFor(2))));
                }
                long verified = 0;
                for (int i = 0; i < sessions; i++) {
                    var r = running.get(i).get(5, TimeUnit.MINUTES);
                    assertArrayEquals(expected.get(i), r.generated(), head + ": session " + i);
                    verified += r.speculation().draftsVerified();
                }
                assertTrue(verified > 0, "stage 0 drafted nothing");
            } finally {
                threads.shutdownNow();
                stages.forEach(StageExecutor::close);
            }
        }
    }
}
