package io.ppsd.runtime.cpu;

import io.ppsd.runtime.heads.DraftVocabulary;
import io.ppsd.runtime.heads.ExitHeadFile;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.model.Tensor;
import io.ppsd.runtime.stage.LayerStackExecutor;
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
        reduced = vocabulary == null ? null : new float[forward.maxBatch() * vocabulary.size()];
    }

    boolean hasLayer() {
        return layer != null;
    }

    /** The head's layer over one compute call's rows, on a copy in {@code out} (the rows themselves go downstream unchanged). */
    void layer(LayerStackExecutor.Segments<KvCache> segments, float[] hidden, int row0, float[] out) {
        System.arraycopy(hidden, row0 * dim, out, 0, segments.totalRows() * dim);
        forward.layer(layer, segments, 0, out, 0);
    }

    /** Norm and projection of rows [row0, row0 + n) of {@code rows} (n ≤ maxBatch): full-vocabulary logits to rows [outRow, outRow + n) of {@code logits}. */
    void logits(float[] rows, int row0, int n, float[] logits, int outRow) {
        if (vocabulary == null) {
            forward.logits(norm, projection, rows, row0, n, logits, outRow);
            return;
        }
        forward.logits(norm, projection, rows, row0, n, reduced, 0);
        for (int t = 0; t < n; t++) vocabulary.scatter(reduced, t * vocabulary.size(), logits, (outRow + t) * vocab, vocab);
    }
}
