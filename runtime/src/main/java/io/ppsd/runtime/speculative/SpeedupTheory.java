package io.ppsd.runtime.speculative;

/**
 * The speedups the PPSD page derives, cost counted in layer passes (a verification of γ tokens
 * costing one pass, as on a memory-bound GPU). Benchmarks print them next to measured figures.
 */
public final class SpeedupTheory {
    private SpeedupTheory() {}

    /** ρ* = N / (α·E + (1 − α)·⌈N/E⌉·E): PPSD over AR on the same hardware. */
    public static double ppsd(double alpha, int numLayers, int exitLayer) {
        int stages = (numLayers + exitLayer - 1) / exitLayer;
        return numLayers / (alpha * exitLayer + (1 - alpha) * stages * exitLayer);
    }

    /** S_EESD = (1 − α^(γ+1)) / ((1 − α)·(1 + γE/N)): draft-then-verify over AR. */
    public static double eesd(double alpha, int gamma, int numLayers, int exitLayer) {
        double tokensPerRound = alpha == 1 ? gamma + 1 : (1 - Math.pow(alpha, gamma + 1)) / (1 - alpha);
        return tokensPerRound / (1 + (double) gamma * exitLayer / numLayers);
    }
}
