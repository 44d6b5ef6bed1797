package io.ppsd.benchmarks.run;

import io.ppsd.runtime.cpu.CoreGroup;
import io.ppsd.runtime.simulated.PaddingStats;
import io.ppsd.runtime.simulated.SimulatedLatencyExecutor;
import io.ppsd.runtime.stage.StageExecutor;
import java.util.List;

/** The executors of one configuration, and core groups they share; closing frees both. */
public record OpenedStages(List<StageExecutor> executors, List<CoreGroup> sharedCores) implements AutoCloseable {

    /** Padding statistics of each simulated stage (empty on real devices). */
    public List<PaddingStats> paddingStats() {
        return executors.stream().filter(e -> e instanceof SimulatedLatencyExecutor)
                .map(e -> ((SimulatedLatencyExecutor) e).stats()).toList();
    }

    @Override
    public void close() {
        executors.forEach(StageExecutor::close);
        sharedCores.forEach(CoreGroup::close);
    }
}
