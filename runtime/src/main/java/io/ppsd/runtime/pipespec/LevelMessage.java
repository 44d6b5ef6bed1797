package io.ppsd.runtime.pipespec;

/**
 * What the levels of a PipeSpec hierarchy tell each other about one sequence. Tokens go up
 * ({@link Proposed}: from a level to the next larger model); verdicts go down ({@link Verdict}:
 * how far the larger model got, and, on a mismatch, the corrected token). Both transports — the
 * in-process threads and the level actors — carry exactly these, in order, per pair of levels.
 */
public sealed interface LevelMessage {

    long seq();

    /**
     * Tokens of the proposing level at positions {@code position ..}, produced in its
     * {@code epoch} (the number of corrections it had applied). {@code distributions[i]} is the
     * distribution the level's token at that position follows (sampling; null under greedy).
     */
    record Proposed(long seq, int epoch, int position, int[] tokens, float[][] distributions) implements LevelMessage {}

    /**
     * From the level above: its sequence is {@code settled} tokens long. With {@code correctedAt}
     * ≥ 0 the receiver's token at that position was wrong: from there on its sequence is
     * {@code correction}, it drops everything after, and its epoch becomes {@code epoch}.
     */
    record Verdict(long seq, int epoch, int settled, int correctedAt, int correction) implements LevelMessage {

        public static Verdict progress(long seq, int epoch, int settled) {
            return new Verdict(seq, epoch, settled, -1, -1);
        }

        public boolean corrects() {
            return correctedAt >= 0;
        }
    }
}
