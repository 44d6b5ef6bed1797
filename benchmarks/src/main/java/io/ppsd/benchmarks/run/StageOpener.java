package io.ppsd.benchmarks.run;

import io.ppsd.runtime.cpu.CoreGroup;
import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.simulated.SimulatedLatencyExecutor;
import io.ppsd.runtime.speculative.StagePlan;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;
import java.util.ArrayList;
import java.util.List;

/**
 * Opens the stages a strategy needs on a device. On real cores, autoregressive decoding and EESD
 * (one thread of control) use all cores for each stage, and a PPSD pipeline splits them among its
 * stages, as {@code LocalDecoding} does. On simulated devices every stage is its own device.
 */
public record StageOpener(ModelFiles files, DeviceSpec device) {

    /** The whole model on one stage, for autoregressive decoding. */
    public OpenedStages whole() {
        return open(StagePlan.ofSizes(files.config().numLayers(), files.config().numLayers()), null, true);
    }

    /** The draft stage [0, E) and the rest: EESD's layout; on real cores both share all cores. */
    public OpenedStages draftAndRest(int exitLayer, String head) {
        return open(StagePlan.draftAndRest(files.config().numLayers(), exitLayer), head, true);
    }

    /** The PPSD pipeline of ⌈N/E⌉ stages; on real cores each gets its share. */
    public OpenedStages pipeline(int exitLayer, String head) {
        return open(StagePlan.forExitLayer(files.config().numLayers(), exitLayer), head, false);
    }

    private OpenedStages open(StagePlan plan, String head, boolean shareCores) {
        List<CoreGroup> shared = new ArrayList<>();
        List<StageExecutor> opened;
        switch (device) {
            case DeviceSpec.CpuCompute cpu -> {
                if (shareCores) {
                    CoreGroup group = new CoreGroup(cpu.threads(), "bench");
                    shared.add(group);
                    opened = plan.open(head, spec -> new CpuStageExecutor(files, spec, group, false, CpuStageExecutor.DEFAULT_MAX_BATCH, LoadProgress.NONE));
                } else {
                    int perStage = Math.max(1, cpu.threads() / plan.stageCount());
                    opened = plan.open(head, spec -> new CpuStageExecutor(files, spec, perStage, LoadProgress.NONE));
                }
            }
            case DeviceSpec.Simulated sim -> opened = plan.open(head, spec -> simulated(spec, sim));
        }
        return new OpenedStages(opened, shared);
    }

    private StageExecutor simulated(StageSpec spec, DeviceSpec.Simulated sim) {
        var real = new CpuStageExecutor(files, spec, sim.threadsPerStage(), LoadProgress.NONE);
        try {
            return SimulatedLatencyExecutor.wrap(files, real, sim.profile(), sim.pause());
        } catch (RuntimeException e) {
            real.close();
            throw e;
        }
    }
}
