package io.ppsd.runtime.decode;

/** Why a generation ended. */
public enum StopReason {
    /** The model produced an end-of-sequence token (it is not part of the output). */
    EOS,
    /** The requested number of new tokens was reached. */
    MAX_TOKENS,
    /** The output text contains one of the stop strings. */
    STOP_STRING,
    /** The model's context window is full. */
    CONTEXT_FULL,
    /** The caller cancelled. */
    CANCELLED
}
