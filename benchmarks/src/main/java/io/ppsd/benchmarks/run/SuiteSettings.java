package io.ppsd.benchmarks.run;

/**
 * How much each configuration is measured: new tokens per prompt (fixed: no stop tokens), prompts
 * per kind (prose, code), warm-up prompts run by both decoders and discarded, and repetitions
 * (each one runs AR and the strategy over every prompt, alternating which goes first). When a
 * configuration opens new stages (new threads, new code paths for the JIT), warm-up repeats until
 * {@code warmupSeconds} have passed.
 */
public record SuiteSettings(int newTokens, int promptsPerKind, int warmupPrompts, double warmupSeconds, int repetitions, int maxPromptTokens) {
    public SuiteSettings {
        if (newTokens < 2 || promptsPerKind < 1 || repetitions < 1 || warmupPrompts < 0) throw new IllegalArgumentException("invalid settings");
    }
}
