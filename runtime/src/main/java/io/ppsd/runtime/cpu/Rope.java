package io.ppsd.runtime.cpu;

import io.ppsd.runtime.model.ModelConfig;

/**
 * Rotary position embedding in the Hugging Face convention: dimension i of a head is paired with
 * i + headDim/2 ("rotate_half"), not with its neighbour. Angles are computed in double precision
 * once per position and cached as float cos/sin tables.
 */
final class Rope {
    private final int half;
    private final float[] cos;
    private final float[] sin;

    Rope(ModelConfig c) {
        int headDim = c.headDim();
        half = headDim / 2;
        double[] invFreq = new double[half];
        for (int i = 0; i < half; i++) {
            invFreq[i] = 1.0 / Math.pow(c.ropeTheta(), (2.0 * i) / headDim);
            if (c.ropeScaling() != null) invFreq[i] = c.ropeScaling().scale(invFreq[i]);
        }
        int positions = c.maxPositions();
        cos = new float[positions * half];
        sin = new float[positions * half];
        for (int p = 0; p < positions; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * invFreq[i];
                cos[p * half + i] = (float) Math.cos(angle);
                sin[p * half + i] = (float) Math.sin(angle);
            }
        }
    }

    /** Rotates {@code heads} consecutive heads of x starting at off, for position pos. */
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
