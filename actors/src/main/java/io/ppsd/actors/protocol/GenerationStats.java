package io.ppsd.actors.protocol;

/**
 * Statistics of a finished generation: acceptance rate α of the drafts, tokens per pipeline step,
 * stage-steps wasted on rejected drafts, throughput, and how often the pipeline had to be rebuilt
 * after losing a stage.
 */
public record GenerationStats(int promptTokens, int generatedTokens, double acceptanceRate, double tokensPerStep,
                              long draftsVerified, long draftsAccepted, long wastedStageSteps,
                              double promptMillis, double tokensPerSecond, int rebuilds) implements CborSerializable {}
