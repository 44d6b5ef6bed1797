package io.ppsd.benchmarks.run;

import io.ppsd.benchmarks.suite.BenchConfig;
import io.ppsd.runtime.simulated.DeviceProfile;
import io.ppsd.runtime.speculative.SpeedupTheory;
import io.ppsd.runtime.speculative.StagePlan;

/**
 * What a configuration should reach at the acceptance rate it measured.
 * <ul>
 *   <li>{@link #theory}: the PPSD page's formulas, cost counted in layer passes (ρ* for PPSD,
 *       S_EESD for EESD, 1 for AR).</li>
 *   <li>{@link #profileBound}: the same expectation with the simulated device's actual call times,
 *       so heads and the LM head cost what they cost: PPSD commits an accepted token per slowest
 *       stage time and a rejected one per full trip through the pipeline,
 *       {@code T_AR / (α·max_k t_k + (1 − α)·Σ_k t_k)}; an EESD round drafts γ tokens through the
 *       draft stage (γ + 1 calls, as the decoder fills the head's cache for the last one too) and
 *       verifies γ + 1 rows. NaN on real devices.</li>
 * </ul>
 */
public final class SpeedupBounds {
    private SpeedupBounds() {}

    public static double theory(BenchConfig c, double alpha) {
        return switch (c.strategy()) {
            case AR -> 1;
            case EESD -> SpeedupTheory.eesd(alpha, c.gamma(), c.numLayers(), c.exitLayer());
            case PPSD -> SpeedupTheory.ppsd(alpha, c.numLayers(), c.exitLayer());
        };
    }

    public static String theoryName(BenchConfig c) {
        return switch (c.strategy()) {
            case AR -> "1";
            case EESD -> "S_EESD";
            case PPSD -> "rho*";
        };
    }

    public static double profileBound(BenchConfig c, double alpha) {
        return profileBound(c, alpha, 0, Integer.MAX_VALUE);
    }

    /**
     * The profile bound of a PPSD pipeline whose stages talk over hops that take
     * {@code ringNanos} for a trip around the ring (S − 1 forward hops and the verdict hop, as
     * probed) with at most {@code window} positions in flight. A rejected token costs the whole
     * round trip R = Σ_k t_k + ring; an accepted one the slowest stage, unless the window cannot
     * cover the round trip: then R / window. So
     * {@code T_AR / (α·max(max_k t_k, R/w) + (1 − α)·R)}, with T_AR autoregressive decoding on one
     * device (no hops). A prediction, from the probed idle-pipeline hop times.
     */
    public static double profileBound(BenchConfig c, double alpha, double ringNanos, int window) {
        if (!(c.device() instanceof DeviceSpec.Simulated sim)) return Double.NaN;
        DeviceProfile p = sim.profile();
        int n = c.numLayers(), e = c.exitLayer();
        double ar = p.forwardNanos(n, 1) + p.logitsNanos(1);
        return switch (c.strategy()) {
            case AR -> 1;
            case EESD -> {
                int g = c.gamma();
                double round = (g + 1) * (double) (p.forwardNanos(e, 1) + p.draftNanos(c.headKind(), 1))
                        + p.forwardNanos(n - e, g + 1) + p.logitsNanos(g + 1);
                double tokens = alpha >= 1 ? g + 1 : (1 - Math.pow(alpha, g + 1)) / (1 - alpha);
                yield ar * tokens / round;
            }
            case PPSD -> {
                StagePlan plan = StagePlan.forExitLayer(n, e);
                double max = 0, sum = 0;
                for (int k = 0; k < plan.stageCount(); k++) {
                    double t = p.forwardNanos(plan.layers(k).count(), 1);
                    if (k == 0) t += p.draftNanos(c.headKind(), 1);
                    if (k == plan.stageCount() - 1) t += p.logitsNanos(1);
                    max = Math.max(max, t);
                    sum += t;
                }
                double roundTrip = sum + ringNanos;
                yield ar / (alpha * Math.max(max, roundTrip / window) + (1 - alpha) * roundTrip);
            }
        };
    }
}
