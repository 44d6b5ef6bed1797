package io.ppsd.runtime.ppsd;

/**
 * A stage's own work on one sequence failed (stage 0 drafting it, say): the driver tells that
 * sequence's session and serves the others. {@link #cause()} says why.
 */
public final class SequenceFailedException extends RuntimeException {
    private final long seq;

    public SequenceFailedException(long seq, RuntimeException cause) {
        super("sequence " + seq + ": " + cause.getMessage(), cause);
        this.seq = seq;
    }

    public long seq() {
        return seq;
    }
}
