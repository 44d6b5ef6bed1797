package io.ppsd.runtime.cpu;

import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.Device;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageExecutorFactory;
import io.ppsd.runtime.stage.StageSpec;

/** The CPU backend: a device is a slot of {@code threads} cores. */
public final class CpuStageExecutorFactory implements StageExecutorFactory {
    @Override
    public String backend() {
        return "cpu";
    }

    @Override
    public StageExecutor open(ModelFiles files, StageSpec spec, Device device, LoadProgress progress) {
        return new CpuStageExecutor(files, spec, device.threads(), progress);
    }
}
