package io.ppsd.runtime.cpu;

import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.RopeFrequencies;
import java.util.Arrays;

/**
 * Rotary position embedding in the Hugging Face convention: dimension i of a head is paired with
 * i + headDim/2 ("rotate_half"), not with its neighbour. Angles are computed in double precision
 * ({@link RopeFrequencies}) and cached as float cos/sin tables, grown as positions are used.
 */
final class Rope {
    private final RopeFrequencies frequencies;
    private final int half;
    private final int maxPositions;
    private int capacity;
    private float[] cos = new float[0];
    private float[] sin = new float[0];

    Rope(ModelConfig c) {
        this.frequencies = RopeFrequencies.of(c);
        this.half = frequencies.half();
        this.maxPositions = c.maxPositions();
    }

    /** Makes the tables hold positions [0, positions). */
    void reserve(int positions) {
        if (positions <= capacity) return;
        int grown = RopeFrequencies.grownCapacity(capacity, positions, maxPositions);
        cos = Arrays.copyOf(cos, grown * half);
        sin = Arrays.copyOf(sin, grown * half);
        frequencies.fill(capacity, grown, cos, sin);
        capacity = grown;
    }

    /** Rotates {@code heads} consecutive heads of x starting at off, for position pos (reserved). */
    void rotate(float[] x, int off, int heads, int pos) {
        int t = pos * half;
        for (int h = 0; h < heads; h++) {
            int base = off + h * 2 * half;
            for (int i = 0; i < half; i++) {
                float a = x[base + i], b = x[base + half + i];
                float c = cos[t + i], s = sin[t + i];
                x[base + i] = a * c - b * s;
                x[base + half + i] = b * c + a * s;
            }
        }
    }
}
