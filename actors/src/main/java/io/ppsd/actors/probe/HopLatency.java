package io.ppsd.actors.probe;

import java.util.ArrayList;
import java.util.List;

/** Latency of the stage-to-stage hops of one kind ({@code local}: same node, {@code remote}: across nodes). */
public record HopLatency(String kind, int count, double medianMicros, double p99Micros, double maxMicros) {

    /** Local and remote hops between stages, each summarized if any were seen. */
    public static List<HopLatency> of(List<Hop> hops) {
        List<HopLatency> out = new ArrayList<>();
        for (boolean remote : new boolean[] {false, true}) {
            long[] nanos = hops.stream().filter(h -> h.betweenStages() && h.remote() == remote).mapToLong(Hop::nanos).sorted().toArray();
            if (nanos.length > 0) out.add(summary(remote ? "remote" : "local", nanos));
        }
        return out;
    }

    private static HopLatency summary(String kind, long[] sorted) {
        return new HopLatency(kind, sorted.length, quantile(sorted, 0.5) / 1e3, quantile(sorted, 0.99) / 1e3, sorted[sorted.length - 1] / 1e3);
    }

    /** The smallest value with at least {@code q} of the values at or below it. */
    static double quantile(long[] sorted, double q) {
        if (!(q > 0 && q <= 1)) throw new IllegalArgumentException("quantile " + q);
        int rank = (int) Math.ceil(q * sorted.length);
        return sorted[Math.max(0, rank - 1)];
    }

    @Override
    public String toString() {
        return String.format(java.util.Locale.ROOT, "%s hops: %d, median %.1f µs, p99 %.1f µs, max %.1f µs", kind, count, medianMicros, p99Micros, maxMicros);
    }
}
