package io.ppsd.benchmarks.run;

import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;

/** Something that generates: one strategy set up over opened stages. */
public interface Decoder extends AutoCloseable {
    GenerationResult generate(GenerationRequest request);

    /**
     * The messaging latency of each hop between the decoder's stages, probed now with messages of
     * {@code payloadFloats} floats; null when the decoder's stages do not exchange messages.
     */
    default HopReport hops(int payloadFloats) {
        return null;
    }

    /** Frees what the decoder itself started (threads, actors); the stages belong to the caller. */
    @Override
    default void close() {}
}
