package io.ppsd.runtime.ppsd;

/**
 * Stage 0's choice of how many positions to keep in flight under an adaptive {@link DraftWindow}.
 *
 * <p>A draft for position v leaves stage 0 with the hidden state of v − 1 and its verdict comes
 * back a round trip {@code L} later (the downstream stages' calls and the hops). Stage 0 drafts one
 * position per call of {@code t0}; with a window of {@code W} it may compute {@code W − 1} more
 * positions before it needs that verdict, so it runs out of window {@code L − (W−1)·t0} before the
 * verdict arrives (idle), or is still in a call {@code (W−1)·t0 − L} after it (busy; a call is
 * never interrupted). Idle time is lost when the verdict accepts (the next draft could already be
 * on its way), busy time when it rejects (the restart waits for the call to end). With acceptance
 * rate α the expected loss {@code α·idle + (1 − α)·busy} is smallest at
 * <pre>  W = 1 + ⌊L / t0 + α⌋</pre>
 * — a full pipeline (the paper's W = S when all stages take equally long) when drafts are mostly
 * right, fewer positions when they are mostly wrong or when stage 0 is slower than the others
 * (its exit head), more when hops between machines lengthen the round trip.
 *
 * <p>All three quantities are observed at stage 0 alone (one clock): {@code t0} from its calls,
 * α from the verdicts, {@code L} from send to verdict — but only from a verdict that finds stage
 * 0 idle, since one that arrives during a call waits unseen until the call ends (stages look at
 * their messages between calls). So stage 0 starts with one position in flight until a round
 * trip has been measured, and when every verdict for a while has found stage 0 busy, the window
 * shrinks by one until an idle verdict has measured the round trip again ({@code L} does not
 * depend on the window as long as stage 0 is the slowest stage).
 */
public final class DraftPacing {
    /** Weight of a new observation in the running means. */
    private static final double RATE = 0.2, ACCEPT_RATE = 0.05;
    /** Verdicts that found stage 0 busy after which it is left idle once to measure the round trip. */
    private static final int REMEASURE_AFTER = 16;

    private double callNanos = Double.NaN;
    private double roundTripNanos = Double.NaN;
    private double acceptance = 0.5;
    private long callStart, callEnd;
    private boolean idleSinceCall;
    private int busyVerdicts;

    /** Stage 0 starts drafting one position. */
    public void callStarted(long now) {
        callStart = now;
    }

    /** Stage 0 finished drafting one position and sent it downstream. */
    public void callEnded(long now) {
        callEnd = now;
        idleSinceCall = false;
        callNanos = mean(callNanos, now - callStart, RATE);
    }

    /** Stage 0 found nothing it may draft: it waits for a message. */
    public void idle() {
        idleSinceCall = true;
    }

    /** A verdict on the draft sent at {@code sentAt} is handled at {@code now}. */
    public void verdict(long sentAt, long now, boolean accepted) {
        acceptance = mean(acceptance, accepted ? 1 : 0, ACCEPT_RATE);
        if (idleSinceCall || callEnd <= sentAt) {
            roundTripNanos = mean(roundTripNanos, now - sentAt, RATE);
            busyVerdicts = 0;
        } else {
            busyVerdicts++;
        }
    }

    /** Positions to keep in flight, between 1 and {@code window.max()}. */
    public int positions(DraftWindow window) {
        if (!window.adaptive()) return window.max();
        if (Double.isNaN(roundTripNanos) || Double.isNaN(callNanos) || callNanos <= 0) return 1; // measure first
        long w = 1 + (long) Math.floor(roundTripNanos / callNanos + acceptance);
        if (busyVerdicts >= REMEASURE_AFTER) w--;
        return (int) Math.max(1, Math.min(window.max(), w));
    }

    private static double mean(double current, double sample, double rate) {
        return Double.isNaN(current) ? sample : current + rate * (sample - current);
    }

    @Override
    public String toString() {
        return String.format(java.util.Locale.ROOT, "t0 %.0f µs, round trip %.0f µs, α %.2f", callNanos / 1e3, roundTripNanos / 1e3, acceptance);
    }
}
