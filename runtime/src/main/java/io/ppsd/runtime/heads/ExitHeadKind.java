package io.ppsd.runtime.heads;

/** The three early-exit head architectures of the PPSD page. */
public enum ExitHeadKind {
    /** The model's own final RMSNorm + LM head applied at the exit layer; no weights of its own. */
    NORM,
    /** Its own RMSNorm and its own projection to the vocabulary. */
    LINEAR,
    /** One extra decoder layer (own weights, own KV cache), its own RMSNorm, then the shared LM head. */
    TRANSFORMER
}
