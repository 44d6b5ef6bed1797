package io.ppsd.runtime.ppsd;

/**
 * Stage 0's choice over time between PPSD drafting (up to the draft window of positions in flight)
 * and plain pipelined decoding (one position in flight: every stage busy with different sessions'
 * tokens, nothing thrown away), for the sequences whose {@link DraftWindow} has {@code byLoad}.
 *
 * <p>Measured, not modelled. A first version compared a cost model of stage 0's calls
 * (e·S·c(k/S) ≥ c(k)); on the benchmark host it kept speculating where plain pipelining was 15–45 %
 * faster, because the work a thrown-away row costs is spread over every stage and the host, not in
 * stage 0's call times. So stage 0 now measures what both modes deliver: time is cut into periods
 * of {@value #PERIOD_CALLS} stage-0 calls (or {@value #MIN_PERIOD_CALLS} once half a second has
 * passed, for slow calls); in each, one mode holds, and the rate of verdicts on
 * by-load sequences (each verdict commits exactly one token) over the period's second half (the
 * first lets the positions in flight of the previous mode drain) is that mode's throughput, kept as
 * a running mean per mode. The next period uses the better mode, except every
 * {@value #EXPLORE_EVERY}th, which re-measures the other (load and acceptance drift). Cost: at most
 * one period in {@value #EXPLORE_EVERY} in the worse mode. Tokens never change either way.
 */
final class SpeculationByLoad {
    static final int PERIOD_CALLS = 48;
    /** Slow calls (a large model on few cores) end a period after this many calls once it has lasted {@link #PERIOD_NANOS}. */
    static final int MIN_PERIOD_CALLS = 12;
    static final long PERIOD_NANOS = 500_000_000L;
    static final int EXPLORE_EVERY = 10;
    private static final double RATE = 0.4;
    private long periodStart;

    private final double[] tokensPerSecond = {Double.NaN, Double.NaN}; // [speculating, plain]
    private boolean speculating = true;
    private int calls;
    private long measureStart;
    private int verdicts;
    private boolean active;
    private boolean measuring;
    private int periods;

    /** Whether by-load sequences speculate now. */
    boolean speculate() {
        return speculating;
    }

    /** A verdict on a draft of a by-load sequence (one committed token). */
    void verdict() {
        if (measuring) verdicts++;
        active = true;
    }

    /** One stage-0 call ended at {@code now}; {@code byLoadRows} of its rows were by-load sequences'. */
    void call(int byLoadRows, long now) {
        if (byLoadRows > 0) active = true;
        if (calls == 0) periodStart = now;
        calls++;
        boolean longEnough = calls >= PERIOD_CALLS || (calls >= MIN_PERIOD_CALLS && now - periodStart >= PERIOD_NANOS);
        if (!measuring && (calls >= PERIOD_CALLS / 2 || (calls >= MIN_PERIOD_CALLS / 2 && now - periodStart >= PERIOD_NANOS / 2))) {
            measuring = true;
            measureStart = now;
            verdicts = 0;
        }
        if (!longEnough) return;
        int mode = speculating ? 0 : 1;
        if (active && now > measureStart) {
            double rate = verdicts * 1e9 / (now - measureStart);
            tokensPerSecond[mode] = Double.isNaN(tokensPerSecond[mode]) ? rate : tokensPerSecond[mode] + RATE * (rate - tokensPerSecond[mode]);
            periods++;
        }
        speculating = next();
        calls = 0;
        active = false;
        measuring = false;
    }

    private boolean next() {
        if (Double.isNaN(tokensPerSecond[0])) return true;
        if (Double.isNaN(tokensPerSecond[1])) return false;
        boolean better = tokensPerSecond[0] >= tokensPerSecond[1];
        return periods % EXPLORE_EVERY == 0 ? !better : better;
    }

    @Override
    public String toString() {
        return String.format(java.util.Locale.ROOT, "%s; speculating %.1f tok/s, plain %.1f tok/s", speculating ? "speculating" : "plain",
                tokensPerSecond[0], tokensPerSecond[1]);
    }
}
