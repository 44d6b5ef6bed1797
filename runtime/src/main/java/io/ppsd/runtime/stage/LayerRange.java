package io.ppsd.runtime.stage;

/** Decoder layers [from, to) of a model. */
public record LayerRange(int from, int to) {
    public LayerRange {
        if (from < 0 || to < from) throw new IllegalArgumentException("invalid layer range [" + from + ", " + to + ")");
    }

    public int count() {
        return to - from;
    }

    @Override
    public String toString() {
        return "[" + from + ", " + to + ")";
    }
}
