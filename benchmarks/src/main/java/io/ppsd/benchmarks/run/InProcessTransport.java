package io.ppsd.benchmarks.run;

import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.ppsd.InProcessPipeline;

/** One thread per stage and queues between them ({@link InProcessPipeline}). */
public final class InProcessTransport implements Transport {
    @Override
    public String name() {
        return "in-process";
    }

    @Override
    public Decoder pipeline(PipelineSetup setup) {
        var pipeline = new InProcessPipeline(setup.opened().executors(), setup.prefillChunk(), InProcessPipeline.Chaos.NONE);
        return new Decoder() {
            @Override
            public GenerationResult generate(GenerationRequest request) {
                return pipeline.generate(request, TokenListener.NONE, setup.window());
            }

            @Override
            public void close() {
                pipeline.close();
            }
        };
    }
}
