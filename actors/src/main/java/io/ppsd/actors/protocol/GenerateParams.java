package io.ppsd.actors.protocol;

import io.ppsd.runtime.decode.SamplingParams;
import java.util.List;

/**
 * How to generate: token budget, sampling (temperature 0 = greedy), stop strings, extra stop token
 * ids, a deadline for the whole request, which configured pipeline to run on (null = the default
 * one), and whether to keep generating past the model's end-of-sequence tokens ({@code ignoreEos}:
 * for benchmarks that need a fixed number of tokens). A request stops at the model's EOS ids
 * (unless {@code ignoreEos}) and at every id of {@code stopTokenIds}. Fields absent from a message
 * read as null / 0 / false; the gateway validates everything and answers bad values with a
 * failure, so a bad request from another node is refused clearly rather than dropped.
 */
public record GenerateParams(int maxTokens, float temperature, int topK, float topP, float repetitionPenalty, long seed,
                             List<String> stopStrings, int[] stopTokenIds, long deadlineMillis, String pipeline, boolean ignoreEos)
        implements CborSerializable {

    public static final long DEFAULT_DEADLINE_MILLIS = 120_000;

    /** Greedy decoding of at most {@code maxTokens} tokens, default deadline, default pipeline. */
    public static GenerateParams greedy(int maxTokens) {
        return builder(maxTokens).build();
    }

    public static Builder builder(int maxTokens) {
        return new Builder(maxTokens);
    }

    /** The sampling parameters; throws {@link IllegalArgumentException} for invalid values. */
    public SamplingParams sampling() {
        return new SamplingParams(temperature, topK, topP, repetitionPenalty, seed);
    }

    public Builder toBuilder() {
        var b = new Builder(maxTokens).sampling(temperature, seed).stopStrings(stopStrings).stopTokenIds(stopTokenIds)
                .deadlineMillis(deadlineMillis).pipeline(pipeline).ignoreEos(ignoreEos);
        b.topK = topK;
        b.topP = topP;
        b.repetitionPenalty = repetitionPenalty;
        return b;
    }

    public GenerateParams withPipeline(String name) {
        return toBuilder().pipeline(name).build();
    }

    public GenerateParams withDeadline(long millis) {
        return toBuilder().deadlineMillis(millis).build();
    }

    public GenerateParams withIgnoreEos(boolean ignore) {
        return toBuilder().ignoreEos(ignore).build();
    }

    /** Builds {@link GenerateParams}; unset fields keep the defaults of {@link #greedy}. */
    public static final class Builder {
        private final int maxTokens;
        private float temperature, topP = 1f, repetitionPenalty = 1f;
        private int topK;
        private long seed, deadlineMillis = DEFAULT_DEADLINE_MILLIS;
        private List<String> stopStrings = List.of();
        private int[] stopTokenIds = new int[0];
        private String pipeline;
        private boolean ignoreEos;

        private Builder(int maxTokens) {
            this.maxTokens = maxTokens;
        }

        /** Copies temperature, top-k, top-p, repetition penalty and seed. */
        public Builder sampling(SamplingParams s) {
            temperature = s.temperature();
            topK = s.topK();
            topP = s.topP();
            repetitionPenalty = s.repetitionPenalty();
            seed = s.seed();
            return this;
        }

        /** Temperature and seed only (an invalid temperature is refused by the gateway, not here). */
        public Builder sampling(float temperature, long seed) {
            this.temperature = temperature;
            this.seed = seed;
            return this;
        }

        public Builder topK(int k) {
            topK = k;
            return this;
        }

        public Builder topP(float p) {
            topP = p;
            return this;
        }

        public Builder repetitionPenalty(float penalty) {
            repetitionPenalty = penalty;
            return this;
        }

        public Builder stopStrings(List<String> strings) {
            stopStrings = strings == null ? List.of() : List.copyOf(strings);
            return this;
        }

        public Builder stopTokenIds(int[] ids) {
            stopTokenIds = ids == null ? new int[0] : ids.clone();
            return this;
        }

        public Builder deadlineMillis(long millis) {
            deadlineMillis = millis;
            return this;
        }

        public Builder pipeline(String name) {
            pipeline = name;
            return this;
        }

        public Builder ignoreEos(boolean ignore) {
            ignoreEos = ignore;
            return this;
        }

        public GenerateParams build() {
            return new GenerateParams(maxTokens, temperature, topK, topP, repetitionPenalty, seed, stopStrings, stopTokenIds,
                    deadlineMillis, pipeline, ignoreEos);
        }
    }
}
