package io.ppsd.benchmarks.run;

import io.ppsd.runtime.ppsd.DraftWindow;
import io.ppsd.runtime.speculative.StagePlan;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;

/**
 * What a {@link Transport} gets to build a PPSD pipeline from: the model, head and stage plan,
 * the device each stage runs on (as a device string {@code backend:index[xthreads]} that a
 * {@code StageExecutorFactory} understands, e.g. {@code simulated:3} or {@code cpu:0x1}), and —
 * for transports that do not open stages themselves — the executors the harness opened.
 */
public record PipelineSetup(Path modelDir, String head, StagePlan plan, DraftWindow window, int prefillChunk, List<String> devices,
                            OpenedStages opened) {

    /** One device string per stage for {@code device}. */
    public static List<String> devicesFor(DeviceSpec device, int stages) {
        return IntStream.range(0, stages).mapToObj(k -> switch (device) {
            case DeviceSpec.CpuCompute cpu -> "cpu:" + k + "x" + Math.max(1, cpu.threads() / stages);
            case DeviceSpec.Simulated sim -> "simulated:" + k + "x" + sim.threadsPerStage();
        }).toList();
    }
}
