package io.ppsd.actors.protocol;

import java.util.List;

/**
 * How to generate: token budget, sampling (temperature 0 = greedy), stop strings, a deadline for
 * the whole request, which configured pipeline to run on (null = the default one), and whether
 * to keep generating past the model's end-of-sequence token ({@code ignoreEos}: for benchmarks
 * that need a fixed number of tokens; absent in a message = false).
 */
public record GenerateParams(int maxTokens, float temperature, int topK, float topP, float repetitionPenalty, long seed,
                             List<String> stopStrings, long deadlineMillis, String pipeline, boolean ignoreEos) implements CborSerializable {

    public static GenerateParams greedy(int maxTokens) {
        return new GenerateParams(maxTokens, 0f, 0, 1f, 1f, 0L, List.of(), 120_000, null, false);
    }

    public GenerateParams withIgnoreEos(boolean ignore) {
        return new GenerateParams(maxTokens, temperature, topK, topP, repetitionPenalty, seed, stopStrings, deadlineMillis, pipeline, ignore);
    }

    public GenerateParams withPipeline(String name) {
        return new GenerateParams(maxTokens, temperature, topK, topP, repetitionPenalty, seed, stopStrings, deadlineMillis, name, ignoreEos);
    }

    public GenerateParams withDeadline(long millis) {
        return new GenerateParams(maxTokens, temperature, topK, topP, repetitionPenalty, seed, stopStrings, millis, pipeline, ignoreEos);
    }

    public GenerateParams withSampling(float temperature, long seed) {
        return new GenerateParams(maxTokens, temperature, topK, topP, repetitionPenalty, seed, stopStrings, deadlineMillis, pipeline, ignoreEos);
    }
}
