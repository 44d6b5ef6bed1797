package io.ppsd.benchmarks.concurrency;

/**
 * One mode of one pipeline at one concurrency: requests and tokens generated, wall time, aggregate
 * tokens/s, and what a session sees — time to first token and inter-token latency (p50, p99).
 */
public record ConcurrencyRow(String setup, String mode, int concurrency, int requests, long tokens, double seconds, double tokensPerSecond,
                             double ttftP50Ms, double itlP50Ms, double itlP99Ms, double alpha) {}
