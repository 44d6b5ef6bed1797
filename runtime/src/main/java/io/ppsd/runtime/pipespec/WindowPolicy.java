package io.ppsd.runtime.pipespec;

/**
 * How many drafts a level verifies in one call at most (it never waits for more than are there:
 * a level verifies whatever the level below has produced, up to this many).
 * <ul>
 *   <li>{@link #fixed}: always the same bound.</li>
 *   <li>{@link #adaptive}: the bound w in [1, max] that maximizes the expected tokens per second of
 *       the level, E[tokens](w) / cost(w), with E[tokens](w) = (1 − α^(w+1)) / (1 − α) for the
 *       measured per-draft acceptance α and cost(w) = a + b·(w + 1) fitted to the measured call
 *       times (rows → nanoseconds, least squares with exponential forgetting). When a call costs
 *       about the same for any number of rows (memory-bound decoding) this is {@code max}; when
 *       rows cost and α is low it shrinks.</li>
 * </ul>
 */
public sealed interface WindowPolicy {

    /** The most drafts the next call may verify. */
    int size();

    /** One verification call: {@code window} drafts in it, {@code accepted} of them kept, its time. */
    void observe(int window, int accepted, long nanos);

    /** A fresh policy for one sequence (the adaptive one learns per sequence). */
    WindowPolicy fresh();

    static WindowPolicy fixed(int size) {
        return new Fixed(size);
    }

    static WindowPolicy adaptive(int max) {
        return new Adaptive(max);
    }

    record Fixed(int size) implements WindowPolicy {
        public Fixed {
            if (size < 1) throw new IllegalArgumentException("a verification window must be ≥ 1, got " + size);
        }

        @Override
        public void observe(int window, int accepted, long nanos) {}

        @Override
        public WindowPolicy fresh() {
            return this;
        }
    }

    final class Adaptive implements WindowPolicy {
        private static final double FORGET = 0.95;
        private final int max;
        private double verified, accepted;                 // decayed counts of drafts
        private double n, sumX, sumY, sumXX, sumXY;       // decayed least-squares sums, x = rows, y = nanos
        private int size;

        Adaptive(int max) {
            if (max < 1) throw new IllegalArgumentException("a verification window must be ≥ 1, got " + max);
            this.max = max;
            this.size = max;
        }

        @Override
        public int size() {
            return size;
        }

        @Override
        public void observe(int window, int kept, long nanos) {
            verified = verified * FORGET + window;
            accepted = accepted * FORGET + kept;
            double x = window + 1;
            n = n * FORGET + 1;
            sumX = sumX * FORGET + x;
            sumY = sumY * FORGET + nanos;
            sumXX = sumXX * FORGET + x * x;
            sumXY = sumXY * FORGET + x * nanos;
            if (verified < 4) return; // too little seen to move off the maximum
            double varX = sumXX / n - (sumX / n) * (sumX / n);
            double b = varX > 1e-9 ? Math.max(0, (sumXY / n - (sumX / n) * (sumY / n)) / varX) : 0;
            double a = Math.max(1, sumY / n - b * sumX / n);
            size = best(accepted / verified, a, b, max);
        }

        @Override
        public WindowPolicy fresh() {
            return new Adaptive(max);
        }

        /** argmax over w in [1, max] of E[tokens](w) / (a + b (w + 1)). */
        static int best(double alpha, double a, double b, int max) {
            double al = Math.min(alpha, 1 - 1e-9);
            int best = 1;
            double bestRate = -1;
            for (int w = 1; w <= max; w++) {
                double tokens = (1 - Math.pow(al, w + 1)) / (1 - al);
                double rate = tokens / (a + b * (w + 1));
                if (rate > bestRate * (1 + 1e-9)) {
                    bestRate = rate;
                    best = w;
                }
            }
            return best;
        }
    }
}
