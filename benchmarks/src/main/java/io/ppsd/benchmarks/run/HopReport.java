package io.ppsd.benchmarks.run;

import io.ppsd.actors.probe.HopLatency;
import java.util.List;

/**
 * Per-hop messaging latency of an actor pipeline spread over {@code jvms} JVMs, probed with
 * {@code payloadFloats} floats per message, {@code probes} times around the ring of stages.
 */
public record HopReport(int jvms, int payloadFloats, List<HopLatency> latency, int probes) {

    /** A trip around the ring (S hops: S − 1 forward and the verdict hop) at each kind's median. */
    public double ringNanos() {
        double micros = 0;
        for (HopLatency h : latency) micros += h.medianMicros() * h.count() / probes;
        return micros * 1e3;
    }
}
