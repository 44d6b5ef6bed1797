package io.ppsd.runtime.ppsd;

import io.ppsd.runtime.ppsd.PipelineMessage.Batch;
import io.ppsd.runtime.ppsd.PipelineMessage.Hidden;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Decode rows waiting at a middle stage or the verifier to be run together: a driver (thread or
 * actor) offers each message it takes, in arrival order, and hands the stage what has gathered as
 * one {@link Batch} — so rows that queued up from several calls of the stage before (or several
 * senders) cost one call, not one each (continuous batching across pipeline steps). Only decode
 * rows join, at most one per sequence: anything else (a prefill chunk, a control message, a second
 * row of a sequence already waiting) must be handled after what is pending, so the order of each
 * sequence's messages — all the epoch rules need — is kept.
 */
public final class PendingRows {
    private final List<Hidden> rows = new ArrayList<>();
    private final Set<Long> sequences = new HashSet<>();

    /** Takes {@code m} into the pending rows if it can join them; false when the driver must {@link #drain} first (or handle it alone). */
    public boolean offer(PipelineMessage m) {
        List<Hidden> parts = switch (m) {
            case Hidden h when h.draft() >= 0 && h.params() == null && h.rows() == 1 -> List.of(h);
            case Batch b -> b.parts();
            default -> null;
        };
        if (parts == null) return false;
        for (Hidden h : parts) if (sequences.contains(h.seq())) return false;
        for (Hidden h : parts) {
            rows.add(h);
            sequences.add(h.seq());
        }
        return true;
    }

    public boolean isEmpty() {
        return rows.isEmpty();
    }

    /** What is pending, as one message (a lone row stays a {@link Hidden}); null when nothing is. */
    public PipelineMessage drain() {
        if (rows.isEmpty()) return null;
        PipelineMessage m = rows.size() == 1 ? rows.getFirst() : new Batch(rows);
        rows.clear();
        sequences.clear();
        return m;
    }
}
