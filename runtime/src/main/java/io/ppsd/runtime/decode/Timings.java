package io.ppsd.runtime.decode;

/** Wall-clock time of a generation's two phases. */
public record Timings(int promptTokens, long promptNanos, int generatedTokens, long generationNanos) {

    public double promptTokensPerSecond() {
        return promptNanos == 0 ? 0 : promptTokens * 1e9 / promptNanos;
    }

    /** Tokens after the first one, over the time after the first one (decode speed). */
    public double generatedTokensPerSecond() {
        return generationNanos == 0 ? 0 : Math.max(0, generatedTokens - 1) * 1e9 / generationNanos;
    }
}
