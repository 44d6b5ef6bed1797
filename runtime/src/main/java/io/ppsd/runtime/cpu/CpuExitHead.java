package io.ppsd.runtime.cpu;

import io.ppsd.runtime.heads.ExitHeadFile;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFiles;
import java.lang.foreign.Arena;

/**
 * An early-exit head on CPU: maps the hidden state after the exit layer to next-token logits.
 * {@code norm}: the model's final norm + LM head; {@code linear}: own norm + own projection;
 * {@code transformer}: own decoder layer (its KV cache is kept by the stage, beside the layers'),
 * own norm, the model's LM head.
 */
final class CpuExitHead {
    private final float[] norm;
    private final Matrix projection;
    private final LayerWeights layer;
    private final CpuForward forward;
    private final int dim;
    private final float[] scratch;

    CpuExitHead(ExitHeadFile file, ModelFiles model, CpuForward forward, Arena arena) {
        this.forward = forward;
        ModelConfig config = model.config();
        this.dim = config.hiddenSize();
        switch (file.kind()) {
            case NORM -> {
                norm = Matrix.vector(model.tensor("model.norm.weight"));
                projection = Matrix.of(model.lmHead(), arena);
                layer = null;
            }
            case LINEAR -> {
                norm = Matrix.vector(file.tensor("norm.weight"));
                projection = Matrix.of(file.tensor("proj.weight"), arena);
                layer = null;
            }
            case TRANSFORMER -> {
                norm = Matrix.vector(file.tensor("norm.weight"));
                projection = Matrix.of(model.lmHead(), arena);
                layer = LayerWeights.named(n -> file.tensor("layer." + n), config, arena);
            }
            default -> throw new IllegalStateException();
        }
        scratch = new float[(layer == null ? 1 : forward.maxBatch()) * dim];
    }

    boolean hasLayer() {
        return layer != null;
    }

    /** Norm and projection of row {@code row} of {@code hidden}. */
    void project(float[] hidden, int row, float[] logits) {
        System.arraycopy(hidden, row * dim, scratch, 0, dim);
        forward.logits(norm, projection, scratch, 1, logits);
    }

    /** The head's layer over a chunk of rows, on a copy (the rows go downstream unchanged); logits of the last row when asked. */
    void layer(KvCache cache, int startPos, int rows, float[] hidden, int row0, boolean withLogits, float[] logits) {
        System.arraycopy(hidden, row0 * dim, scratch, 0, rows * dim);
        forward.layer(layer, cache, 0, startPos, rows, scratch, 0);
        if (withLogits) {
            System.arraycopy(scratch, (rows - 1) * dim, scratch, 0, dim);
            forward.logits(norm, projection, scratch, 1, logits);
        }
    }
}
