package io.ppsd.actors.session;

import io.ppsd.actors.protocol.CborSerializable;
import io.ppsd.runtime.ppsd.StageReport;

/**
 * The protocol of {@link RequestSession}: what the pipeline's stages report about a sequence, and
 * the session's own timers and cancellation. Stage reports name the sequence (one attempt of the
 * request), so reports from an abandoned attempt are recognized and ignored.
 */
public sealed interface SessionCommand extends CborSerializable {

    /** The verifier committed {@code token} at position {@code pos} of sequence {@code seq}. */
    record Committed(long seq, int pos, int token, boolean wasDraft) implements SessionCommand {}

    /** One stage's account of the sequence after releasing it. */
    record Reported(long seq, StageReport report) implements SessionCommand {}

    /**
     * A stage cannot serve the sequence (it failed to load, or rejected the input). {@code code}
     * null: a rebuild may succeed (the stage was lost, say); otherwise the request fails at once
     * with it: {@code OVERLOADED} (no KV-cache room now), {@code INTERNAL} (the model computes NaN).
     */
    record StageFailed(long seq, String stage, String reason, io.ppsd.actors.protocol.FailureCode code) implements SessionCommand {}

    /** The requester asked to stop. */
    record Cancel() implements SessionCommand {}

    /** Periodic check of deadline and progress (local timer). */
    record Tick() implements SessionCommand {}
}
