package io.ppsd.runtime.decode;

/**
 * A whole-model stage that runs a decoding step where its weights are: the embedding of one
 * token, the layers, the final norm and LM head, and the choice of the next token, with only the
 * token coming back (a GPU: one small copy and one synchronization per token instead of the
 * hidden state and the logits row through the host).
 *
 * <p>Greedy: the same token as {@code embed}, {@code forward}, {@code logits} and {@link
 * Sampler#argmax} (ties to the lower id). Sampled: plain temperature sampling ({@link
 * #samplesOnDevice}), the host {@link Sampler}'s draw — the cumulative softmax inverted at a
 * uniform number the caller draws from the request's sampler ({@link Sampler#uniform}, one per
 * token, as the host draw consumes) — so a seed gives the host path's tokens but where the two
 * sums' roundings straddle the draw. Non-finite logits fail as {@link Sampler#requireFinite}
 * fails them.
 */
public interface DeviceStep {

    /** Whether steps can run on this stage (it must hold the whole model and no exit-head layer that would miss the position). */
    boolean canStepOnDevice();

    /**
     * Decodes {@code token} at position {@code pos} of {@code seq} (whose cache holds exactly
     * {@code pos} positions, as for forward) and returns the greedy next token.
     *
     * @throws Sampler.NonFiniteLogitsException when the logits hold NaN or +∞ (broken weights)
     */
    int greedyStep(long seq, int pos, int token);

    /**
     * As {@link #greedyStep}, but the next token is drawn from softmax(logits / temperature) at
     * {@code uniform} ∈ [0, 1).
     */
    int sampledStep(long seq, int pos, int token, float temperature, double uniform);

    /** Sampling a device step can do: temperature only (no top-k, top-p or repetition penalty, which need the row on the host). */
    static boolean samplesOnDevice(SamplingParams p) {
        return !p.isGreedy() && p.topK() == 0 && p.topP() == 1f && p.repetitionPenalty() == 1f;
    }
}
