package io.ppsd.runtime.stage;

/**
 * What one pipeline stage holds: its decoder layers, whether it also owns the token embedding
 * (the first stage) and the final norm + LM head (the last stage, which verifies), and the
 * early-exit head it drafts with (the first stage of a speculative pipeline), or null.
 *
 * <p>{@code exitHead} names a head of the model directory's {@code exit_heads/} folder, or is
 * {@code "norm"}: the model's own final norm and LM head applied at the stage's last layer
 * (LayerSkip style, any exit layer, no extra weights).
 */
public record StageSpec(LayerRange layers, boolean embedding, boolean lmHead, String exitHead) {

    public StageSpec(LayerRange layers, boolean embedding, boolean lmHead) {
        this(layers, embedding, lmHead, null);
    }

    /** The whole model on one stage (autoregressive decoding). */
    public static StageSpec whole(int numLayers) {
        return new StageSpec(new LayerRange(0, numLayers), true, true, null);
    }

    public boolean drafts() {
        return exitHead != null;
    }

    @Override
    public String toString() {
        return "stage" + layers + (embedding ? "+embed" : "") + (lmHead ? "+lm_head" : "") + (exitHead != null ? "+head:" + exitHead : "");
    }
}
