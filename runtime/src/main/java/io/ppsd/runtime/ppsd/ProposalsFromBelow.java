package io.ppsd.runtime.ppsd;

import io.ppsd.runtime.ppsd.PipelineMessage.Proposed;
import io.ppsd.runtime.ppsd.PipelineMessage.Verdict;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * What a level of a PipeSpec hierarchy knows of the level below it, for one sequence: the tokens
 * the level below proposed that this level has not used yet (positions {@code [start, end)}), and
 * the corrections it sent down. Used by every verifying level of a hierarchy and by the drafting
 * stage of a PPSD target, which takes its drafts from the level below.
 *
 * <p>The level below's sequence always agrees with this level's before {@link #start()}: every
 * position there was its proposal this level kept or checked, or this level's correction. A
 * correction bumps the level below's epoch, and proposals stamped with an older epoch are dropped
 * (messages between two levels arrive in the order sent, so nothing else can be stale).
 */
public final class ProposalsFromBelow {
    private final long seq;
    private final int limit;
    private final Consumer<Verdict> down;
    private final int[] tokens;
    private final float[][] dists;
    private int start, end;
    private int epoch;
    private long verified, accepted;

    /** @param length the tokens both levels hold at the start (the prompt) */
    public ProposalsFromBelow(long seq, int length, int limit, boolean greedy, Consumer<Verdict> down) {
        this.seq = seq;
        this.limit = limit;
        this.down = down;
        this.tokens = new int[limit];
        this.dists = greedy ? null : new float[limit][];
        this.start = this.end = length;
    }

    /**
     * Takes a proposal (dropped when made before the latest correction) and checks whatever of it
     * falls at positions this level already holds ({@code ours[0, length)}).
     */
    public void offer(Proposed p, int[] ours, int length, String where) {
        if (p.epoch() != epoch) return;
        if (p.position() != end) {
            throw new IllegalStateException(where + ": proposal at position " + p.position() + " but the next expected is " + end);
        }
        if (end + p.tokens().length > limit) throw new IllegalStateException(where + ": proposal past the limit of " + limit);
        for (int i = 0; i < p.tokens().length; i++) {
            tokens[end] = p.tokens()[i];
            if (dists != null) dists[end] = p.distributions()[i];
            end++;
        }
        reconcile(ours, length);
    }

    /** Checks proposals at positions this level already has: a match is used up, a mismatch corrected. */
    public void reconcile(int[] ours, int length) {
        while (end > start && start < length) {
            verified++;
            if (tokens[start] != ours[start]) {
                correct(start, ours, length);
                return;
            }
            accepted++;
            consume(start + 1);
        }
    }

    /**
     * The level below is wrong from position {@code m} on: its sequence becomes {@code ours[0,
     * length)}. The correction carries our tokens from min(start, m) — usually just the one at m;
     * more when this level decided positions alone that the level below has not reached.
     */
    public void correct(int m, int[] ours, int length) {
        int from = Math.min(start, m);
        epoch++;
        down.accept(new Verdict(seq, epoch, length, from, Arrays.copyOfRange(ours, from, length)));
        consume(end);
        start = end = length;
    }

    /** Tells the level below how far this level's sequence reaches, so it may draft ahead of it (its lead). */
    public void progress(int settled) {
        down.accept(Verdict.progress(seq, epoch, settled));
    }

    /** Marks proposals before {@code upTo} as used. */
    public void consume(int upTo) {
        if (upTo <= start) return;
        if (dists != null) Arrays.fill(dists, start, upTo, null);
        start = upTo;
    }

    /** The first unused proposal's position. */
    public int start() {
        return start;
    }

    /** How many proposals are unused. */
    public int available() {
        return end - start;
    }

    public int token(int pos) {
        return tokens[pos];
    }

    /** The distribution the level below drew the token at {@code pos} from (sampling only). */
    public float[] distribution(int pos) {
        return dists == null ? null : dists[pos];
    }

    /** The proposals checked against tokens this level already held, and how many of them matched. */
    public long verified() {
        return verified;
    }

    public long accepted() {
        return accepted;
    }

    /** Copies the unused proposals {@code [start, start + n)} to {@code dst}. */
    public void copy(int n, int[] dst, int off) {
        System.arraycopy(tokens, start, dst, off, n);
    }
}
