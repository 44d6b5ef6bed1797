package io.ppsd.benchmarks.run;

import io.ppsd.runtime.decode.Decoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.TokenListener;
import java.util.ArrayList;
import java.util.List;

/**
 * One pass of a decoder over every prompt: decode time and tokens (after each prompt's first
 * token, so prefill is left out), speculation counts summed over prompts, and the outputs.
 */
public record PassResult(long decodeNanos, long decodeTokens, long verified, long accepted, long committed, long steps, long wasted,
                         List<int[]> outputs) {

    /** Greedy generation of exactly {@code newTokens} tokens per prompt (no stop tokens). */
    public static PassResult run(Decoder decoder, List<int[]> prompts, int newTokens) {
        long nanos = 0, tokens = 0, verified = 0, accepted = 0, committed = 0, steps = 0, wasted = 0;
        List<int[]> outputs = new ArrayList<>();
        for (int[] prompt : prompts) {
            GenerationResult r = decoder.generate(GenerationRequest.greedy(prompt, newTokens), TokenListener.NONE);
            nanos += r.timings().generationNanos();
            tokens += Math.max(0, r.timings().generatedTokens() - 1);
            var s = r.speculation();
            verified += s.draftsVerified();
            accepted += s.draftsAccepted();
            committed += s.tokensCommitted();
            steps += s.steps();
            wasted += s.wastedStageSteps();
            outputs.add(r.generated());
        }
        return new PassResult(nanos, tokens, verified, accepted, committed, steps, wasted, outputs);
    }

    public double tokensPerSecond() {
        return decodeNanos == 0 ? Double.NaN : decodeTokens * 1e9 / decodeNanos;
    }
}
