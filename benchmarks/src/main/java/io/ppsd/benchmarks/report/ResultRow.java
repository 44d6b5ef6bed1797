package io.ppsd.benchmarks.report;

/**
 * One configuration's figures. Speeds are medians over repetitions; {@code speedup} is the median
 * of per-repetition ratios to autoregressive decoding measured in the same repetition on the same
 * device. {@code ratioToTheory} (measured / theoretical at the measured α) is the headline.
 * On simulated devices, the last three figures tell how faithful the simulation was, for the worst
 * stage: real computation as a share of simulated time, the fraction of calls whose computation
 * alone overran it (prefill chunks do; decode calls should not), and the mean lateness of padded
 * calls (waking up after the deadline).
 */
public record ResultRow(
        String suite,
        String model,
        String id,
        String strategy,
        String device,
        String transport,
        int stages,
        String head,
        String headKind,
        int exitLayer,
        int numLayers,
        int gamma,
        int prompts,
        int newTokens,
        int repetitions,
        double tokensPerSecond,
        double arTokensPerSecond,
        double speedup,
        double speedupMin,
        double speedupMax,
        double alpha,
        double tokensPerStep,
        double wastedStageStepsPerToken,
        String theoryName,
        double theory,
        double ratioToTheory,
        double profileBound,
        double ratioToProfileBound,
        boolean outputsMatchAr,
        double maxComputeShare,
        double maxOverrunFraction,
        double maxMeanLatenessMicros,
        double seconds) {}
