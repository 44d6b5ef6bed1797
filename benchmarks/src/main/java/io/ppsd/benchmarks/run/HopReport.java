package io.ppsd.benchmarks.run;

import io.ppsd.actors.probe.HopLatency;
import java.util.List;

/** Per-hop messaging latency of an actor pipeline spread over {@code jvms} JVMs, probed with {@code payloadFloats} floats per message. */
public record HopReport(int jvms, int payloadFloats, List<HopLatency> latency) {}
