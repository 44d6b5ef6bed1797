package io.ppsd.runtime.pipespec;

import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The model files and CPU stages a PipeSpec test opens, closed together after it. */
final class OpenedModels implements AutoCloseable {
    private final List<ModelFiles> opened = new ArrayList<>();
    private final List<StageExecutor> executors = new ArrayList<>();

    ModelFiles open(Path dir) {
        var files = ModelFiles.open(dir);
        opened.add(files);
        return files;
    }

    /** A level holding the whole model in {@code dir} on one CPU stage. */
    ModelLevel level(Path dir, String name) {
        var files = open(dir);
        return new ModelLevel(name, List.of(stage(files, StageSpec.whole(files.config().numLayers()))));
    }

    StageExecutor stage(ModelFiles files, StageSpec spec) {
        return keep(new CpuStageExecutor(files, spec, 1, LoadProgress.NONE));
    }

    <T extends StageExecutor> T keep(T executor) {
        executors.add(executor);
        return executor;
    }

    @Override
    public void close() {
        executors.forEach(StageExecutor::close);
        opened.forEach(ModelFiles::close);
    }
}
