package io.ppsd.runtime.ppsd;

/**
 * How far stage 0 may draft beyond the last verified position of a sequence: at most {@code max}
 * positions, and, when {@code adaptive}, as many of them as {@link DraftPacing} finds worth it
 * for the stage times and acceptance rate stage 0 observes; with {@code byLoad}, one position (plain
 * pipelined decoding) while stage 0 measures that plain pipelining delivers more ({@link SpeculationByLoad}).
 */
public record DraftWindow(int max, boolean adaptive, boolean byLoad) {
    public DraftWindow {
        if (max < 1) throw new IllegalArgumentException("a draft window holds at least 1 position, got " + max);
    }

    public DraftWindow(int max, boolean adaptive) {
        this(max, adaptive, false);
    }

    /** The same window, and stage 0 falls back to plain pipelined decoding when the load makes speculation a loss ({@link SpeculationByLoad}). */
    public DraftWindow withLoadAdaptation() {
        return new DraftWindow(max, adaptive, true);
    }

    /** Exactly {@code positions} in flight (the paper's pipeline keeps S: one per stage). */
    public static DraftWindow fixed(int positions) {
        return new DraftWindow(positions, false);
    }

    /** Adaptive, at most {@code max}. */
    public static DraftWindow adaptive(int max) {
        return new DraftWindow(max, true);
    }

    /**
     * The default for {@code stages} stages: adaptive up to S + 2 (two more than the stages, for
     * the hops of a round trip between machines; the policy takes fewer when they do not pay).
     */
    public static DraftWindow defaultFor(int stages) {
        return adaptive(stages + 2);
    }

    @Override
    public String toString() {
        return adaptive ? "adaptive ≤ " + max : "fixed " + max;
    }
}
