package io.ppsd.runtime.decode;

/**
 * Accounting of speculative decoding: drafts verified and accepted (α = accepted / verified),
 * tokens committed, decoding steps taken (one step = one verification round for EESD, one
 * pipeline tick for PPSD), and the stage-steps computed for drafts that were thrown away.
 * Autoregressive decoding reports zero drafts and one step per token.
 */
public record SpeculationStats(long draftsVerified, long draftsAccepted, long tokensCommitted, long steps, long wastedStageSteps) {

    public static final SpeculationStats NONE = new SpeculationStats(0, 0, 0, 0, 0);

    public double acceptanceRate() {
        return draftsVerified == 0 ? Double.NaN : (double) draftsAccepted / draftsVerified;
    }

    public double tokensPerStep() {
        return steps == 0 ? Double.NaN : (double) tokensCommitted / steps;
    }
}
