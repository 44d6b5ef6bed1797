package io.ppsd.runtime.ppsd;

/**
 * Where a stage's protocol logic sends things. The in-process pipeline puts messages on queues;
 * the actor pipeline sends them to entities. The logic never assumes anything about ordering
 * except that messages from one sender to one receiver arrive in the order sent.
 */
public interface PipelineOutbox {
    /** To the next stage. */
    void downstream(PipelineMessage.Hidden message);

    /** To the next stage: the rows of one batched call of several sequences, as one message. */
    void downstream(PipelineMessage.Batch message);

    /** To the next stage: one part alone, several as a {@link PipelineMessage.Batch}. */
    default void downstream(java.util.List<PipelineMessage.Hidden> parts) {
        if (parts.size() == 1) downstream(parts.getFirst());
        else if (!parts.isEmpty()) downstream(new PipelineMessage.Batch(parts));
    }

    /** To stage 0 (from the verifier). */
    void toDrafter(PipelineMessage message);

    /** To every stage between the first and the last (rollback hints). */
    void toRelays(PipelineMessage message);

    /** To every stage, including the sender (end of a sequence). */
    void toAll(PipelineMessage.Finish message);

    /** To stage {@code stage} (PipeSpec: the levels above and below). */
    default void toStage(int stage, PipelineMessage message) {
        throw new UnsupportedOperationException("this transport does not address stages by index");
    }

    /** To the session: a committed token, in order. */
    void committed(long seq, int pos, int token, boolean wasDraft);

    /** To the session: one stage's work on the sequence, sent when it releases it. */
    void report(long seq, StageReport report);
}
