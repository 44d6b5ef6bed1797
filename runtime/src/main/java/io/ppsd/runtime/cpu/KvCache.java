package io.ppsd.runtime.cpu;

import java.util.Arrays;

/**
 * Keys and values of one sequence for the layers of one stage. Rows are positions; a row holds all
 * KV heads ({@code kvDim} floats). Rollback is {@link #truncate}: O(1), the stale rows are simply
 * overwritten later. Storage grows by doubling, so appends allocate O(log n) times per sequence.
 */
public final class KvCache {
    private final int kvDim;
    private final int maxPositions;
    private final float[][] keys;
    private final float[][] values;
    private int capacity;
    private int length;

    public KvCache(int layers, int kvDim, int maxPositions) {
        this.kvDim = kvDim;
        this.maxPositions = maxPositions;
        this.keys = new float[layers][];
        this.values = new float[layers][];
        this.capacity = Math.min(64, maxPositions);
        for (int l = 0; l < layers; l++) {
            keys[l] = new float[capacity * kvDim];
            values[l] = new float[capacity * kvDim];
        }
    }

    /** Positions currently cached (the next position to write). */
    public int length() {
        return length;
    }

    public int maxPositions() {
        return maxPositions;
    }

    /** Makes room for positions up to {@code newLength} (exclusive). */
    void reserve(int newLength) {
        if (newLength > maxPositions) {
            throw new IllegalArgumentException("position " + (newLength - 1) + " exceeds the context of " + maxPositions + " positions");
        }
        if (newLength <= capacity) return;
        int c = capacity;
        while (c < newLength) c = Math.min(maxPositions, c * 2);
        for (int l = 0; l < keys.length; l++) {
            keys[l] = Arrays.copyOf(keys[l], c * kvDim);
            values[l] = Arrays.copyOf(values[l], c * kvDim);
        }
        capacity = c;
    }

    void setLength(int length) {
        this.length = length;
    }

    /** Forgets every position from {@code newLength} on. */
    public void truncate(int newLength) {
        if (newLength < 0 || newLength > length) {
            throw new IllegalArgumentException("cannot truncate a cache of " + length + " positions to " + newLength);
        }
        length = newLength;
    }

    float[] keys(int layer) {
        return keys[layer];
    }

    float[] values(int layer) {
        return values[layer];
    }

    int kvDim() {
        return kvDim;
    }
}
