package io.ppsd.cuda;

import io.ppsd.cuda.check.RandomCheckpoint;
import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.Sampler;
import io.ppsd.runtime.model.DType;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.StageSpec;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Run in a child JVM by {@link CudaUnavailableTest}: selects the CUDA backend, reports what
 * happened on stdout, then shows that the CPU backend still works in the same process.
 */
public final class NoDriverProbe {
    private NoDriverProbe() {}

    public static void main(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("ppsd-no-driver");
        RandomCheckpoint checkpoint = RandomCheckpoint.aligned(DType.F32, 1);
        checkpoint.write(dir, 2);
        var spec = StageSpec.whole(checkpoint.layers());
        try (ModelFiles files = ModelFiles.open(dir)) {
            try (var cuda = new CudaStageExecutor(files, spec, CudaSettings.load(), LoadProgress.NONE)) {
                System.out.println("CUDA OPENED " + cuda.device().name());
            } catch (CudaUnavailableException e) {
                System.out.println("UNAVAILABLE " + e.getMessage());
            }
            try (var cpu = new CpuStageExecutor(files, spec, 1, LoadProgress.NONE)) {
                int[] prompt = checkpoint.prompt(3, 4);
                float[] hidden = new float[prompt.length * checkpoint.hidden()];
                cpu.embed(prompt, 0, prompt.length, hidden);
                cpu.forward(1, 0, prompt.length, hidden);
                float[] logits = new float[prompt.length * checkpoint.vocab()];
                cpu.logits(hidden, prompt.length, logits);
                System.out.println("CPU OK next token " + Sampler.argmax(logits, (prompt.length - 1) * checkpoint.vocab(), checkpoint.vocab()));
            }
        }
    }
}
