package io.ppsd.runtime.simulated;

/**
 * How faithfully a {@link SimulatedLatencyExecutor} kept to its profile: calls padded, calls whose
 * real computation alone took longer than the simulated time (overruns: the simulation is then
 * slower than the device it imitates), and the lateness of padded calls (the pause returning after
 * the deadline, which adds to every step).
 */
public record PaddingStats(long calls, long targetNanos, long computeNanos, long overruns, long overrunNanos, long latenessNanos, long maxLatenessNanos) {

    public static final PaddingStats NONE = new PaddingStats(0, 0, 0, 0, 0, 0, 0);

    public PaddingStats plus(PaddingStats o) {
        return new PaddingStats(calls + o.calls, targetNanos + o.targetNanos, computeNanos + o.computeNanos, overruns + o.overruns,
                overrunNanos + o.overrunNanos, latenessNanos + o.latenessNanos, Math.max(maxLatenessNanos, o.maxLatenessNanos));
    }

    public PaddingStats minus(PaddingStats o) {
        return new PaddingStats(calls - o.calls, targetNanos - o.targetNanos, computeNanos - o.computeNanos, overruns - o.overruns,
                overrunNanos - o.overrunNanos, latenessNanos - o.latenessNanos, maxLatenessNanos);
    }

    /** Fraction of calls whose real computation exceeded the simulated time. */
    public double overrunFraction() {
        return calls == 0 ? 0 : (double) overruns / calls;
    }

    /** Real computation as a fraction of simulated time: how close the host is to overrunning. */
    public double computeShare() {
        return targetNanos == 0 ? 0 : (double) computeNanos / targetNanos;
    }

    /** Mean time past the deadline of the calls that were padded (the pause's inaccuracy, or no core free when it ended). */
    public double meanLatenessNanos() {
        long padded = calls - overruns;
        return padded == 0 ? 0 : (double) latenessNanos / padded;
    }
}
