package io.ppsd.actors.probe;

/**
 * One hop of a probe: from stage to stage ({@code -1} is the prober), whether it crossed from one
 * node to another, and how long it took from the sender's send to the receiver's handling.
 */
public record Hop(int from, int to, boolean remote, long nanos) {
    /** A hop of the per-token path between two stages (not to or from the prober). */
    public boolean betweenStages() {
        return from >= 0 && to >= 0;
    }
}
