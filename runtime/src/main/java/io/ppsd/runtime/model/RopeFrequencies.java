package io.ppsd.runtime.model;

/**
 * The rotary embedding's inverse frequencies of a model (Hugging Face convention, including llama3
 * frequency scaling), and the cos/sin tables of a range of positions computed from them in double
 * precision. Both backends rotate by these same floats; they compute tables as far as positions are
 * used, never for the whole {@code max_position_embeddings} (which may be 10⁸).
 */
public record RopeFrequencies(double[] inverse) {

    public static RopeFrequencies of(ModelConfig c) {
        int headDim = c.headDim(), half = headDim / 2;
        double[] inv = new double[half];
        for (int i = 0; i < half; i++) {
            inv[i] = 1.0 / Math.pow(c.ropeTheta(), (2.0 * i) / headDim);
            if (c.ropeScaling() != null) inv[i] = c.ropeScaling().scale(inv[i]);
        }
        return new RopeFrequencies(inv);
    }

    public int half() {
        return inverse.length;
    }

    /** Writes the angles of positions [from, to) into {@code cos} and {@code sin} at {@code p * half + i}. */
    public void fill(int from, int to, float[] cos, float[] sin) {
        int half = inverse.length;
        for (int p = from; p < to; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * inverse[i];
                cos[p * half + i] = (float) Math.cos(angle);
                sin[p * half + i] = (float) Math.sin(angle);
            }
        }
    }

    /**
     * Positions to hold when {@code needed} are needed and {@code current} are held: doubling, at
     * least 64, at most the context. Fails clearly past the context.
     */
    public static int grownCapacity(int current, int needed, int maxPositions) {
        if (needed > maxPositions) {
            throw new IllegalArgumentException("position " + (needed - 1) + " exceeds the context of " + maxPositions + " positions");
        }
        long c = Math.max(64, current);
        while (c < needed) c *= 2;
        return (int) Math.min(c, maxPositions);
    }
}
