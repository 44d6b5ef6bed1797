package io.ppsd.runtime.stage;

import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

/**
 * Opens stages on one kind of device. Backends register through {@link ServiceLoader}
 * ({@code META-INF/services/io.ppsd.runtime.stage.StageExecutorFactory}), so the actor runtime can
 * place a stage on a GPU without depending on the CUDA module.
 */
public interface StageExecutorFactory {
    /** The backend name devices use ("cpu", "cuda"). */
    String backend();

    StageExecutor open(ModelFiles files, StageSpec spec, Device device, LoadProgress progress);

    static StageExecutorFactory forBackend(String backend) {
        List<String> known = new ArrayList<>();
        for (StageExecutorFactory f : ServiceLoader.load(StageExecutorFactory.class)) {
            if (f.backend().equals(backend)) return f;
            known.add(f.backend());
        }
        throw new IllegalArgumentException("no stage backend '" + backend + "' on the classpath (available: " + known + ")");
    }
}
