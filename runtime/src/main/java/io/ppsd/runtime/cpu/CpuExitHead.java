package io.ppsd.runtime.cpu;

import io.ppsd.runtime.heads.ExitHeadFile;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFiles;
import java.lang.foreign.Arena;

/**
 * An early-exit head on CPU: maps the hidden state after the exit layer to next-token logits.
 * {@code norm}: the model's final norm + LM head; {@code linear}: own norm + own projection;
 * {@code transformer}: own decoder layer with its own KV cache, own norm, the model's LM head.
 */
final class CpuExitHead {
    private final ExitHeadFile file;
    private final float[] norm;
    private final Matrix projection;
    private final LayerWeights layer;
    private final CpuForward forward;
    private final ModelConfig config;
    private final SequenceTable<KvCache> caches = new SequenceTable<>();
    private final float[] scratch;

    CpuExitHead(ExitHeadFile file, ModelFiles model, CpuForward forward, Arena arena) {
        this.file = file;
        this.forward = forward;
        this.config = model.config();
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
                layer = LayerWeights.named(n -> file.tensor("layer." + n), arena);
            }
            default -> throw new IllegalStateException();
        }
        scratch = layer == null ? new float[config.hiddenSize()] : new float[forward.maxBatch() * config.hiddenSize()];
    }

    ExitHeadFile file() {
        return file;
    }

    void draft(long seq, int startPos, int rows, float[] hidden, float[] logits) {
        int dim = config.hiddenSize();
        if (layer == null) {
            System.arraycopy(hidden, (rows - 1) * dim, scratch, 0, dim);
            forward.logits(norm, projection, scratch, 1, logits);
            return;
        }
        KvCache cache = caches.get(seq);
        if (cache == null) cache = caches.put(seq, new KvCache(1, config.kvDim(), config.maxPositions()));
        if (cache.length() != startPos) {
            throw new IllegalStateException("exit head cache of sequence " + seq + " has " + cache.length()
                    + " positions but the draft starts at " + startPos);
        }
        cache.reserve(startPos + rows);
        int chunk = forward.maxBatch();
        for (int r0 = 0; r0 < rows; r0 += chunk) {
            int m = Math.min(chunk, rows - r0);
            System.arraycopy(hidden, r0 * dim, scratch, 0, m * dim);
            forward.layer(layer, cache, 0, startPos + r0, m, scratch, 0);
            cache.setLength(startPos + r0 + m);
            if (r0 + m == rows) {
                System.arraycopy(scratch, (m - 1) * dim, scratch, 0, dim);
                forward.logits(norm, projection, scratch, 1, logits);
            }
        }
    }

    void truncate(long seq, int length) {
        KvCache c = caches.get(seq);
        if (c != null) c.truncate(Math.min(length, c.length()));
    }

    void release(long seq) {
        caches.remove(seq);
    }
}
