package io.ppsd.actors.protocol;

/** What a generation sends back to its requester, in this order: tokens, then one end event. */
public sealed interface GenerationEvent extends CborSerializable {
    String requestId();

    /** The {@code index}-th generated token (0-based), with the text it completes (maybe empty mid-character). */
    record Token(String requestId, int index, int tokenId, String text) implements GenerationEvent {}

    /** The generation ended normally. */
    record Completed(String requestId, int[] tokenIds, String text, String stopReason, GenerationStats stats)
            implements GenerationEvent {}

    /** The generation could not be done or was stopped; {@code reason} says why, for people. */
    record Failed(String requestId, String reason) implements GenerationEvent {}
}
