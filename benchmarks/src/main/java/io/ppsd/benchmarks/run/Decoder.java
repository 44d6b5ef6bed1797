package io.ppsd.benchmarks.run;

import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;

/** Something that generates: one strategy set up over opened stages. */
public interface Decoder extends AutoCloseable {
    GenerationResult generate(GenerationRequest request);

    /** Frees what the decoder itself started (threads, actors); the stages belong to the caller. */
    @Override
    default void close() {}
}
