package io.ppsd.benchmarks.serve;

/**
 * One front end at one concurrency: requests and tokens served, aggregate throughput, and the
 * latencies a client sees — time to the first token and the gaps between tokens (p50, p99), in
 * milliseconds, measured at the client.
 */
public record LatencyRow(String frontEnd, int concurrency, int requests, long tokens, double seconds, double tokensPerSecond,
                         double ttftP50Ms, double ttftP99Ms, double itlP50Ms, double itlP99Ms) {}
