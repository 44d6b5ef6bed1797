package io.ppsd.benchmarks.run;

import io.ppsd.runtime.decode.Decoder;
import io.ppsd.runtime.ppsd.InProcessPipeline;

/** One thread per stage and queues between them ({@link InProcessPipeline}). */
public final class InProcessTransport implements Transport {
    @Override
    public String name() {
        return "in-process";
    }

    @Override
    public Decoder pipeline(PipelineSetup setup) {
        return new InProcessPipeline(setup.opened().executors(), setup.prefillChunk(), setup.window(), InProcessPipeline.Chaos.NONE);
    }
}
