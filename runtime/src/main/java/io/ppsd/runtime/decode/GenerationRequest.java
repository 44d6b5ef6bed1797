package io.ppsd.runtime.decode;

import java.util.List;
import java.util.function.Supplier;

/**
 * One generation: prompt token ids (BOS included if the model wants it), how many new tokens at
 * most, how to sample, which token ids end the output, and which strings end it (needs
 * {@code text}, a fresh incremental detokenizer per generation, or null without stop strings).
 */
public record GenerationRequest(
        int[] prompt, int maxNewTokens, SamplingParams sampling, int[] stopTokens, List<String> stopStrings,
        Supplier<TokenText> text) {

    public GenerationRequest {
        if (prompt == null || prompt.length == 0) throw new IllegalArgumentException("the prompt must hold at least one token");
        if (maxNewTokens < 0) throw new IllegalArgumentException("max new tokens must be ≥ 0, got " + maxNewTokens);
        stopTokens = stopTokens == null ? new int[0] : stopTokens.clone();
        stopStrings = stopStrings == null ? List.of() : List.copyOf(stopStrings);
        if (stopStrings.stream().anyMatch(String::isEmpty)) throw new IllegalArgumentException("a stop string must not be empty");
        if (!stopStrings.isEmpty() && text == null) throw new IllegalArgumentException("stop strings need a detokenizer");
        prompt = prompt.clone();
    }

    public static GenerationRequest greedy(int[] prompt, int maxNewTokens, int... stopTokens) {
        return new GenerationRequest(prompt, maxNewTokens, SamplingParams.greedy(), stopTokens, List.of(), null);
    }

    /** Checks token ids against a vocabulary and the prompt against a context window. */
    public void validate(int vocabSize, int contextLength) {
        for (int t : prompt) {
            if (t < 0 || t >= vocabSize) throw new IllegalArgumentException("prompt token id " + t + " outside the vocabulary [0, " + vocabSize + ")");
        }
        if (prompt.length >= contextLength) {
            throw new IllegalArgumentException("prompt of " + prompt.length + " tokens does not fit the context of "
                    + contextLength + " positions (at least one position must remain for generation)");
        }
    }
}
