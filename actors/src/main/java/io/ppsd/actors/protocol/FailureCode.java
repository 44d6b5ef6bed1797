package io.ppsd.actors.protocol;

/**
 * Why a request failed, for programs (the reason text is for people). Front ends map codes to
 * their own vocabulary; the HTTP API to statuses: 429, 400, 499, 504, 503, 500.
 */
public enum FailureCode {
    /** The pipeline has no room for the request now (running and waiting limits): retry later. */
    OVERLOADED,
    /** The request itself is wrong (unknown pipeline, prompt too long, bad parameters). */
    BAD_REQUEST,
    /** The requester cancelled it. */
    CANCELLED,
    /** Its deadline passed before it completed. */
    DEADLINE,
    /** The pipeline cannot serve it (a stage failed to load, or could not be rebuilt). */
    UNAVAILABLE,
    /** Anything else. */
    INTERNAL
}
