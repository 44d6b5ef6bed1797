package io.ppsd.runtime.cpu;

import io.ppsd.runtime.stage.SequenceKv;
import java.util.Arrays;

/**
 * Keys and values of one sequence for the layers of one stage, on the Java heap. Rows are
 * positions; a row holds all KV heads ({@code kvDim} floats). Storage starts at 64 positions and
 * doubles (see {@link SequenceKv}), so appends allocate O(log n) times per sequence.
 */
public final class KvCache extends SequenceKv {
    private static final int INITIAL_CAPACITY = 64;

    private final int kvDim;
    private final float[][] keys;
    private final float[][] values;

    public KvCache(int layers, int kvDim, int maxPositions) {
        super(maxPositions, Math.min(INITIAL_CAPACITY, maxPositions));
        this.kvDim = kvDim;
        this.keys = new float[layers][];
        this.values = new float[layers][];
        for (int l = 0; l < layers; l++) {
            keys[l] = new float[capacity() * kvDim];
            values[l] = new float[capacity() * kvDim];
        }
    }

    @Override
    protected void grow(int newCapacity) {
        for (int l = 0; l < keys.length; l++) {
            keys[l] = Arrays.copyOf(keys[l], newCapacity * kvDim);
            values[l] = Arrays.copyOf(values[l], newCapacity * kvDim);
        }
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
