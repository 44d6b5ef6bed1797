package io.ppsd.runtime.decode;

/**
 * A whole-model stage that runs a greedy decoding step where its weights are: the embedding of
 * one token, the layers, the final norm and LM head, and the choice of the next token, with only
 * the token coming back (a GPU: one small copy and one synchronization per token instead of the
 * hidden state and the logits row through the host). The same token as {@code embed}, {@code
 * forward}, {@code logits} and {@link Sampler#argmax} (ties to the lower id); non-finite logits
 * fail as {@link Sampler#requireFinite} fails them.
 */
public interface GreedyStep {

    /** Whether {@link #greedyStep} can be used on this stage (it must hold the whole model and no exit-head layer that would miss the position). */
    boolean canStepGreedily();

    /**
     * Decodes {@code token} at position {@code pos} of {@code seq} (whose cache holds exactly
     * {@code pos} positions, as for forward) and returns the greedy next token.
     *
     * @throws Sampler.NonFiniteLogitsException when the logits hold NaN or +∞ (broken weights)
     */
    int greedyStep(long seq, int pos, int token);
}
