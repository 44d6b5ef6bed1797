package io.ppsd.runtime.decode;

/**
 * The decoding contract every strategy and transport implements: autoregressive decoding, EESD,
 * the in-process PPSD pipeline, and the actor pipeline (through its client). Front ends — the
 * command line, the benchmark harness, servers — use only this, so every path gives one result
 * shape: the prompt and generated token ids, why it stopped, its {@link Timings} and its
 * {@link SpeculationStats}.
 *
 * <p>{@code listener} sees each committed token as soon as it is final. A decoder may be used by
 * several threads only where its implementation says so.
 */
public interface Decoder extends AutoCloseable {

    /** Generates for one request; blocks until the generation ends. Greedy output equals AR's. */
    GenerationResult generate(GenerationRequest request, TokenListener listener);

    /** What this decoder runs, for people: strategy, head, exit layer, stages, transport. */
    String describe();

    /** Frees what the decoder itself started (threads, actors); stages given to it stay the caller's. */
    @Override
    default void close() {}
}
