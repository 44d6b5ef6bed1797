package io.ppsd.runtime.simulated;

import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.Device;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageExecutorFactory;
import io.ppsd.runtime.stage.StageSpec;
import java.util.concurrent.TimeUnit;

/**
 * The "simulated" backend: a CPU stage with {@code device.threads()} cores padded to the configured
 * default profile ({@code ppsd.simulated.profile}). With it registered as a
 * {@link StageExecutorFactory} service, any runtime that places stages by device name (the actor
 * pipeline, for one) can run over simulated GPUs, e.g. devices {@code simulated:0 … simulated:7}.
 */
public final class SimulatedStageExecutorFactory implements StageExecutorFactory {
    private final DeviceProfiles profiles;

    public SimulatedStageExecutorFactory() {
        this(DeviceProfiles.load());
    }

    public SimulatedStageExecutorFactory(DeviceProfiles profiles) {
        this.profiles = profiles;
    }

    @Override
    public String backend() {
        return "simulated";
    }

    @Override
    public StageExecutor open(ModelFiles files, StageSpec spec, Device device, LoadProgress progress) {
        var real = new CpuStageExecutor(files, spec, device.threads(), progress);
        var pause = new PrecisePause(TimeUnit.NANOSECONDS.convert(profiles.spin()));
        try {
            return SimulatedLatencyExecutor.wrap(files, real, profiles.defaultOne(), pause);
        } catch (RuntimeException e) {
            real.close();
            throw e;
        }
    }
}
