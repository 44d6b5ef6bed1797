package io.ppsd.runtime.cpu;

import io.ppsd.runtime.heads.DraftVocabulary;
import io.ppsd.runtime.heads.ExitHeadFile;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.model.Tensor;
import java.lang.foreign.Arena;

/**
 * An early-exit head on CPU: maps the hidden state after the exit layer to next-token logits.
 * {@code norm}: the model's final norm + LM head; {@code linear}: own norm + own projection;
 * {@code transformer}: own decoder layer (its KV cache is kept by the stage, beside the layers'),
 * own norm, the model's LM head. With a reduced draft vocabulary the projection holds only that
 * vocabulary's rows (gathered once at load), and its logits are spread over the full row with
 * −∞ for the tokens it cannot draft.
 */
final class CpuExitHead {
    private final float[] norm;
    private final Matrix projection;
    private final LayerWeights layer;
    private final CpuForward forward;
    private final int dim;
    private final float[] scratch;
    private final DraftVocabulary vocabulary; // null: the full vocabulary
    private final float[] reduced;
    private final int vocab;

    CpuExitHead(ExitHeadFile file, ModelFiles model, CpuForward forward, Arena arena) {
        this.forward = forward;
        ModelConfig config = model.config();
        this.dim = config.hiddenSize();
        this.vocab = config.vocabSize();
        this.vocabulary = file.vocabulary();
        Tensor proj;
        switch (file.kind()) {
            case NORM -> {
                norm = Matrix.vector(model.tensor("model.norm.weight"));
                proj = model.lmHead();
                layer = null;
            }
            case LINEAR -> {
                norm = Matrix.vector(file.tensor("norm.weight"));
                proj = file.tensor("proj.weight");
                layer = null;
            }
            case TRANSFORMER -> {
                norm = Matrix.vector(file.tensor("norm.weight"));
                proj = model.lmHead();
                layer = LayerWeights.named(n -> file.tensor("layer." + n), config, arena);
            }
            default -> throw new IllegalStateException();
        }
        projection = Matrix.of(vocabulary == null ? proj : proj.gatherRows(vocabulary.tokenIds(), arena), arena);
        reduced = vocabulary == null ? null : new float[vocabulary.size()];
        scratch = new float[(layer == null ? 1 : forward.maxBatch()) * dim];
    }

    boolean hasLayer() {
        return layer != null;
    }

    /** Norm and projection of row {@code row} of {@code hidden}. */
    void project(float[] hidden, int row, float[] logits) {
        System.arraycopy(hidden, row * dim, scratch, 0, dim);
        logits(logits);
    }

    /** Norm and projection of scratch row 0 into {@code logits[0, vocab)}. */
    private void logits(float[] logits) {
        if (vocabulary == null) {
            forward.logits(norm, projection, scratch, 1, logits);
        } else {
            forward.logits(norm, projection, scratch, 1, reduced);
            vocabulary.scatter(reduced, logits, 0, vocab);
        }
    }

    /** The head's layer over a chunk of rows, on a copy (the rows go downstream unchanged); logits of the last row when asked. */
    void layer(KvCache cache, int startPos, int rows, float[] hidden, int row0, boolean withLogits, float[] logits) {
        System.arraycopy(hidden, row0 * dim, scratch, 0, rows * dim);
        forward.layer(layer, cache, 0, startPos, rows, scratch, 0);
        if (withLogits) {
            System.arraycopy(scratch, (rows - 1) * dim, scratch, 0, dim);
            logits(logits);
        }
    }
}
