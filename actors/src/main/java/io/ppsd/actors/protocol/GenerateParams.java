package io.ppsd.actors.protocol;

import java.util.List;

/**
 * How to generate: token budget, sampling (temperature 0 = greedy), stop strings, a deadline for
 * the whole request, and which configured pipeline to run on (null = the default one).
 */
public record GenerateParams(int maxTokens, float temperature, int topK, float topP, float repetitionPenalty, long seed,
                             List<String> stopStrings, long deadlineMillis, String pipeline) implements CborSerializable {

    public static GenerateParams greedy(int maxTokens) {
        return new GenerateParams(maxTokens, 0f, 0, 1f, 1f, 0L, List.of(), 120_000, null);
    }

    public GenerateParams withPipeline(String name) {
        return new GenerateParams(maxTokens, temperature, topK, topP, repetitionPenalty, seed, stopStrings, deadlineMillis, name);
    }

    public GenerateParams withDeadline(long millis) {
        return new GenerateParams(maxTokens, temperature, topK, topP, repetitionPenalty, seed, stopStrings, millis, pipeline);
    }

    public GenerateParams withSampling(float temperature, long seed) {
        return new GenerateParams(maxTokens, temperature, topK, topP, repetitionPenalty, seed, stopStrings, deadlineMillis, pipeline);
    }
}
