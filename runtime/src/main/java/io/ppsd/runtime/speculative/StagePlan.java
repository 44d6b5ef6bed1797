package io.ppsd.runtime.speculative;

import io.ppsd.runtime.stage.LayerRange;
import io.ppsd.runtime.stage.StageSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * How the N layers of a model are cut into pipeline stages. The PPSD partition for exit layer E is
 * [0, E), [E, 2E), …, [(S−1)E, N) with S = ⌈N/E⌉; explicit boundaries allow any other cut. Stage 0
 * also holds the embedding and the exit head, the last stage the final norm and LM head.
 */
public record StagePlan(int numLayers, int[] boundaries) {
    public StagePlan {
        boundaries = boundaries.clone();
        if (boundaries.length < 2 || boundaries[0] != 0 || boundaries[boundaries.length - 1] != numLayers) {
            throw new IllegalArgumentException("stage boundaries must run from 0 to " + numLayers + ": " + Arrays.toString(boundaries));
        }
        for (int i = 1; i < boundaries.length; i++) {
            if (boundaries[i] <= boundaries[i - 1]) {
                throw new IllegalArgumentException("stage boundaries must increase (no empty stage): " + Arrays.toString(boundaries));
            }
        }
    }

    /** The PPSD partition for exit layer {@code exitLayer}: ⌈N/E⌉ stages of E layers (the last may be shorter). */
    public static StagePlan forExitLayer(int numLayers, int exitLayer) {
        if (exitLayer < 1 || exitLayer >= numLayers) {
            throw new IllegalArgumentException("exit layer must be in [1, " + (numLayers - 1) + "], got " + exitLayer);
        }
        List<Integer> b = new ArrayList<>();
        for (int l = 0; l < numLayers; l += exitLayer) b.add(l);
        b.add(numLayers);
        return new StagePlan(numLayers, b.stream().mapToInt(Integer::intValue).toArray());
    }

    /** The draft stage [0, E) and one verification stage [E, N): the layout EESD runs on. */
    public static StagePlan draftAndRest(int numLayers, int exitLayer) {
        if (exitLayer < 1 || exitLayer >= numLayers) {
            throw new IllegalArgumentException("exit layer must be in [1, " + (numLayers - 1) + "], got " + exitLayer);
        }
        return new StagePlan(numLayers, new int[] {0, exitLayer, numLayers});
    }

    /** Stages with the given layer counts, e.g. {@code 4,4,8}. */
    public static StagePlan ofSizes(int numLayers, int... sizes) {
        int[] b = new int[sizes.length + 1];
        for (int i = 0; i < sizes.length; i++) b[i + 1] = b[i] + sizes[i];
        return new StagePlan(numLayers, b);
    }

    public int stageCount() {
        return boundaries.length - 1;
    }

    public int exitLayer() {
        return boundaries[1];
    }

    public LayerRange layers(int stage) {
        return new LayerRange(boundaries[stage], boundaries[stage + 1]);
    }

    /** The stage specs, the first drafting with {@code exitHead}. */
    public List<StageSpec> specs(String exitHead) {
        List<StageSpec> specs = new ArrayList<>();
        int s = stageCount();
        for (int i = 0; i < s; i++) {
            specs.add(new StageSpec(layers(i), i == 0, i == s - 1, i == 0 ? exitHead : null));
        }
        return specs;
    }

    /** Opens one executor per stage; if one fails, those already opened are closed. */
    public List<io.ppsd.runtime.stage.StageExecutor> open(String exitHead,
            java.util.function.Function<StageSpec, io.ppsd.runtime.stage.StageExecutor> factory) {
        List<io.ppsd.runtime.stage.StageExecutor> opened = new ArrayList<>();
        try {
            for (StageSpec spec : specs(exitHead)) opened.add(factory.apply(spec));
            return opened;
        } catch (RuntimeException e) {
            opened.forEach(io.ppsd.runtime.stage.StageExecutor::close);
            throw e;
        }
    }

    @Override
    public String toString() {
        return "StagePlan" + Arrays.toString(boundaries);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StagePlan p && p.numLayers == numLayers && Arrays.equals(p.boundaries, boundaries);
    }

    @Override
    public int hashCode() {
        return 31 * numLayers + Arrays.hashCode(boundaries);
    }
}
