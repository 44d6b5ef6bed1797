package io.ppsd.cuda;

import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.Device;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageExecutorFactory;
import io.ppsd.runtime.stage.StageSpec;

/**
 * The CUDA backend for devices named {@code cuda:K}: the stage owns GPU ordinal K. Found through
 * {@link java.util.ServiceLoader}, so the actor runtime places stages on GPUs without a compile-time
 * dependency on this module. Without a driver it fails with {@link CudaUnavailableException}.
 */
public final class CudaStageExecutorFactory implements StageExecutorFactory {
    @Override
    public String backend() {
        return "cuda";
    }

    @Override
    public StageExecutor open(ModelFiles files, StageSpec spec, Device device, LoadProgress progress) {
        return new CudaStageExecutor(files, spec, CudaSettings.load().onDevice(device.index()), progress);
    }
}
