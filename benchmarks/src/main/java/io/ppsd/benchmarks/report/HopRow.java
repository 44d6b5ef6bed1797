package io.ppsd.benchmarks.report;

/**
 * Messaging latency of one kind of stage hop ({@code local}: both stages in one JVM,
 * {@code remote}: across JVMs over loopback TCP) in an actor pipeline, measured by probes sent
 * around the idle pipeline with {@code payloadBytes} of hidden state per message.
 */
public record HopRow(String config, String transport, String device, int stages, int jvms, int payloadBytes, String kind,
                     int hops, double medianMicros, double p99Micros, double maxMicros) {}
