package io.ppsd.runtime.ppsd;

/**
 * A stage's own work on some sequences failed (stage 0 drafting one, or a batched call of several):
 * the driver tells those sequences' sessions and serves the others. {@link #getCause()} says why.
 */
public final class SequenceFailedException extends RuntimeException {
    private final long[] seqs;

    public SequenceFailedException(long seq, RuntimeException cause) {
        this(new long[] {seq}, cause);
    }

    public SequenceFailedException(long[] seqs, RuntimeException cause) {
        super("sequence" + (seqs.length == 1 ? " " + seqs[0] : "s " + java.util.Arrays.toString(seqs)) + ": " + cause.getMessage(), cause);
        if (seqs.length == 0) throw new IllegalArgumentException("no sequence failed");
        this.seqs = seqs.clone();
    }

    /** The first (usually the only) failed sequence. */
    public long seq() {
        return seqs[0];
    }

    /** Every failed sequence. */
    public long[] seqs() {
        return seqs.clone();
    }
}
