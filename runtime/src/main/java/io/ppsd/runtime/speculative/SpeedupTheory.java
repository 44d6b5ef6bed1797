package io.ppsd.runtime.speculative;

/**
 * The speedups the PPSD page derives, cost counted in layer passes (a verification of γ tokens
 * costing one pass, as on a memory-bound GPU), and ppsd's own model of PipeSpec with one draft
 * model. Benchmarks print them next to measured figures; they are predictions.
 */
public final class SpeedupTheory {
    private SpeedupTheory() {}

    /** ρ* = N / (α·E + (1 − α)·⌈N/E⌉·E): PPSD over AR on the same hardware. */
    public static double ppsd(double alpha, int numLayers, int exitLayer) {
        int stages = (numLayers + exitLayer - 1) / exitLayer;
        return numLayers / (alpha * exitLayer + (1 - alpha) * stages * exitLayer);
    }

    /**
     * PipeSpec with one draft model, levels that never wait for drafts (ppsd's rule; this is ppsd's
     * own first-order model, not the paper's closed form): the target's tokens per call, which is
     * its speedup over AR when a call of w + 1 rows costs what one of 1 row does (memory-bound)
     * and each model has a device of its own. A target call finds either a full window of
     * w' = min(w, ⌊1/c⌋) drafts (c: a draft token's time over a target call; the draft keeps up
     * for w' of them) — state F, E_F = (1 − α^(w'+1))/(1 − α) tokens — or none, after a
     * correction — state A, an autoregressive step of 1 token. F stays F when the whole window and
     * the free check of the draft at the bonus position pass (α^(w'+1)); A becomes F when that free
     * check passes (α). In the stationary mix π_F = α / (α + 1 − α^(w'+1)):
     * <pre>  S = π_F · E_F + (1 − π_F)</pre>
     * At α = 0 it is 1 (AR's pace: the target is never idle), and it grows with α and w'.
     */
    public static double pipespec(double alpha, int window, double draftCost) {
        if (Double.isNaN(alpha)) return Double.NaN;
        int w = draftCost > 0 ? (int) Math.max(1, Math.min(window, Math.floor(1 / draftCost))) : window;
        double a = Math.min(Math.max(alpha, 0), 1);
        if (a == 1) return w + 1;
        double full = (1 - Math.pow(a, w + 1)) / (1 - a);
        double pFull = a / (a + 1 - Math.pow(a, w + 1));
        return pFull * full + (1 - pFull);
    }

    /**
     * PipeSpec's own closed form (McDanel et al., arXiv 2505.01572, as transcribed in the
     * project's PPSD.md): with α the acceptance rate between the target and the level below it
     * and γ the lookahead, the steady-state probability that a target step verifies drafts is
     * <pre>  ρ = α / (1 − α^(γ+1) + α)</pre>
     * and the expected tokens per target step are
     * <pre>  E[N] = (1 − ρ)·1 + ρ·(1 − α^(γ+1))/(1 − α)</pre>
     * — the speedup over AR when a target step costs an AR step. It is the same stationary mix as
     * {@link #pipespec} derives, which adds only that a draft model slower than 1/γ of a target
     * step cannot fill the window. For deeper hierarchies apply it to the top pair.
     */
    public static double pipespecPaper(double alpha, int lookahead) {
        if (Double.isNaN(alpha)) return Double.NaN;
        if (lookahead < 0) throw new IllegalArgumentException("the lookahead must be ≥ 0, got " + lookahead);
        double a = Math.min(Math.max(alpha, 0), 1);
        if (a == 1) return lookahead + 1;
        double tail = Math.pow(a, lookahead + 1);
        double rho = a / (1 - tail + a);
        return (1 - rho) + rho * (1 - tail) / (1 - a);
    }

    /** S_EESD = (1 − α^(γ+1)) / ((1 − α)·(1 + γE/N)): draft-then-verify over AR. */
    public static double eesd(double alpha, int gamma, int numLayers, int exitLayer) {
        double tokensPerRound = alpha == 1 ? gamma + 1 : (1 - Math.pow(alpha, gamma + 1)) / (1 - alpha);
        return tokensPerRound / (1 + (double) gamma * exitLayer / numLayers);
    }
}
