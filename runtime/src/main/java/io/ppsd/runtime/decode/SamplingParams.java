package io.ppsd.runtime.decode;

/**
 * How the next token is chosen from logits. {@code temperature == 0} is greedy (argmax; ties go to
 * the lowest token id). Otherwise logits are divided by the temperature, optionally penalized for
 * repetition (CTRL-style: positive logits divided, negative multiplied), cut to the {@code topK}
 * most likely (0 = all) and to the smallest set whose probability reaches {@code topP} (1 = all),
 * and sampled with a generator seeded by {@code seed}, so a run is reproducible.
 */
public record SamplingParams(float temperature, int topK, float topP, float repetitionPenalty, long seed) {
    public SamplingParams {
        if (!(temperature >= 0) || Float.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be ≥ 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top-k must be ≥ 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        if (!(repetitionPenalty > 0) || Float.isInfinite(repetitionPenalty)) throw new IllegalArgumentException("repetition penalty must be > 0, got " + repetitionPenalty);
    }

    public static SamplingParams greedy() {
        return new SamplingParams(0f, 0, 1f, 1f, 0L);
    }

    public static SamplingParams temperature(float temperature, long seed) {
        return new SamplingParams(temperature, 0, 1f, 1f, seed);
    }

    public boolean isGreedy() {
        return temperature == 0f;
    }

    /** The same sampling with another seed (a rebuilt attempt draws from a fresh stream). */
    public SamplingParams withSeed(long newSeed) {
        return new SamplingParams(temperature, topK, topP, repetitionPenalty, newSeed);
    }

    /**
     * The parameters of the verifier's own random stream: the same distribution, a seed derived
     * from this one, so that drafting and verification never draw the same numbers.
     */
    public SamplingParams forVerifier() {
        return withSeed(seed ^ 0x5DEECE66DL);
    }
}
