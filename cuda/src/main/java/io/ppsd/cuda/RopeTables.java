package io.ppsd.cuda;

import io.ppsd.runtime.model.ModelConfig;

/**
 * The rotary angles of every position as cos and sin tables (positions x headDim/2 floats),
 * computed in double precision on the host exactly as the CPU backend does (including llama3
 * frequency scaling), so that both backends rotate by the same floats.
 */
record RopeTables(float[] cos, float[] sin) {
    static RopeTables of(ModelConfig c) {
        int headDim = c.headDim(), half = headDim / 2;
        double[] invFreq = new double[half];
        for (int i = 0; i < half; i++) {
            invFreq[i] = 1.0 / Math.pow(c.ropeTheta(), (2.0 * i) / headDim);
            if (c.ropeScaling() != null) invFreq[i] = c.ropeScaling().scale(invFreq[i]);
        }
        int positions = c.maxPositions();
        float[] cos = new float[positions * half], sin = new float[positions * half];
        for (int p = 0; p < positions; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * invFreq[i];
                cos[p * half + i] = (float) Math.cos(angle);
                sin[p * half + i] = (float) Math.sin(angle);
            }
        }
        return new RopeTables(cos, sin);
    }
}
