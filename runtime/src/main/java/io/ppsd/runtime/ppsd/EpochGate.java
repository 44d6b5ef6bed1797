package io.ppsd.runtime.ppsd;

import io.ppsd.runtime.ppsd.PipelineMessage.Hidden;
import io.ppsd.runtime.stage.StageExecutor;

/**
 * The epoch rules of a receiving stage for one sequence: a message of an older epoch is dropped; a
 * message of a newer epoch means a rejection happened upstream, so the cache is truncated to the
 * epoch's start before the message is processed; within an epoch positions arrive in order (one
 * sender, FIFO). A rollback hint only voids queued work at or beyond its position, it never moves
 * the epoch: the data decides, so correctness does not depend on which message arrives first.
 */
final class EpochGate {
    private int epoch;
    private int hintEpoch = -1;
    private int hintPos;
    long wasted;
    long dropped;

    /** True when {@code m} is to be computed; the executor's cache is then ready for m.pos(). */
    boolean admit(Hidden m, StageExecutor executor) {
        if (m.epoch() < epoch || (m.epoch() < hintEpoch && m.pos() >= hintPos)) {
            dropped++;
            return false;
        }
        int length = executor.length(m.seq());
        if (m.epoch() > epoch) {
            epoch = m.epoch();
            if (length > m.epochStart()) {
                wasted += length - m.epochStart();
                executor.truncate(m.seq(), m.epochStart());
                length = m.epochStart();
            }
        }
        if (m.pos() != length) {
            throw new IllegalStateException("sequence " + m.seq() + " epoch " + m.epoch() + ": position " + m.pos()
                    + " arrived but the stage holds " + length + " positions (messages from one sender must arrive in order)");
        }
        return true;
    }

    void hint(int epoch, int pos) {
        if (epoch > hintEpoch) {
            hintEpoch = epoch;
            hintPos = pos;
        }
    }

    int epoch() {
        return epoch;
    }

    /** The verifier starts a new epoch itself when it rejects a draft. */
    void advance(int newEpoch) {
        epoch = newEpoch;
    }
}
