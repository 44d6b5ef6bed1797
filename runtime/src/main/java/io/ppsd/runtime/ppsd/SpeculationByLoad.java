package io.ppsd.runtime.ppsd;

/**
 * Stage 0's choice, per sequence and over time, between PPSD drafting (up to the draft window of
 * positions in flight) and plain pipelined decoding (one position in flight: every stage busy with
 * different sessions' tokens, nothing thrown away), under a {@link DraftWindow} with {@code byLoad}.
 *
 * <p>The rule compares the two per stage-0 call ("tick"), from what stage 0 measures. With k
 * sequences decoding and S stages, PPSD puts a row of every sequence in each call, c(k), and a
 * fraction e of those rows is kept; plain pipelining puts only the ≈ k/S sequences whose position
 * is at stage 0 in a call, c(max(1, k/S)), and keeps them all. A sequence speculates when
 * <pre>  e · S · c(max(1, k/S))  ≥  c(k)</pre>
 * with c(rows) = a + b·rows fitted to stage 0's call times (least squares with forgetting) and
 * e = 1 / (1 + (1 − α)(min(W, S) − 1)) for its acceptance rate α (measured from its verdicts in
 * either mode: stage 0 drafts with the head in both) and window W (each rejection throws away the
 * positions in flight past the rejected one, at most one per stage). While calls are memory-bound
 * (b·k ≪ a) this is e·S ≥ 1, which always holds — speculate, as at low load (ρ* ≥ 1); when rows cost (a large batch, or compute-bound stages) a
 * sequence with a low α stops speculating first. Tokens never change either way.
 */
final class SpeculationByLoad {
    private static final double FORGET = 0.98, ALPHA_RATE = 0.05;
    private double n, sumX, sumY, sumXX, sumXY;

    /** One stage-0 call of {@code rows} rows took {@code nanos}. */
    void call(int rows, long nanos) {
        n = n * FORGET + 1;
        sumX = sumX * FORGET + rows;
        sumY = sumY * FORGET + nanos;
        sumXX = sumXX * FORGET + (double) rows * rows;
        sumXY = sumXY * FORGET + (double) rows * nanos;
    }

    /** A verdict on one of a sequence's drafts: its running acceptance rate, updated. */
    static double alpha(double alpha, boolean accepted) {
        return alpha + ALPHA_RATE * ((accepted ? 1 : 0) - alpha);
    }

    /** Whether a sequence with acceptance {@code alpha} speculates, {@code decoding} sequences sharing {@code stages} stages. */
    boolean speculate(double alpha, int window, int decoding, int stages) {
        if (window <= 1 || n < 4) return true; // nothing to choose, or too little measured yet
        double meanX = sumX / n, varX = sumXX / n - meanX * meanX;
        double b = varX > 1e-9 ? Math.max(0, (sumXY / n - meanX * (sumY / n)) / varX) : 0;
        double a = Math.max(1, sumY / n - b * meanX);
        // At most one position per stage is in flight however wide the window (the rest wait for verdicts).
        double kept = 1 / (1 + (1 - alpha) * (Math.min(window, stages) - 1));
        double plainRows = Math.max(1, (double) decoding / stages);
        return kept * stages * (a + b * plainRows) >= a + b * decoding;
    }
}
