package io.ppsd.actors.protocol;

import io.ppsd.runtime.decode.SpeculationStats;
import io.ppsd.runtime.decode.StopReason;
import io.ppsd.runtime.decode.Timings;

/** What a generation sends back to its requester, in this order: tokens, then one end event. */
public sealed interface GenerationEvent extends CborSerializable {
    String requestId();

    /** The {@code index}-th generated token (0-based), with the text it completes (maybe empty mid-character). */
    record Token(String requestId, int index, int tokenId, String text) implements GenerationEvent {}

    /**
     * The generation ended normally: the prompt as the model saw it (tokenized, BOS included), the
     * generated tokens and their text, why it stopped, its timings and speculation statistics (the
     * runtime's own records, as every decoder reports them), and how often the pipeline had to be
     * rebuilt after losing a stage.
     */
    record Completed(String requestId, int[] promptTokenIds, int[] tokenIds, String text, StopReason stopReason,
                     Timings timings, SpeculationStats speculation, int rebuilds) implements GenerationEvent {}

    /** The generation could not be done or was stopped: {@code code} says why for programs, {@code reason} for people. */
    record Failed(String requestId, FailureCode code, String reason) implements GenerationEvent {}
}
