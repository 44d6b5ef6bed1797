package io.ppsd.runtime.stage;

import io.ppsd.runtime.model.ModelConfig;

/**
 * The part of a stage executor that is the same on every backend: a {@link SequenceKv} per sequence
 * for the stage's layers and one more for a transformer exit head, the rule that makes rollback
 * explicit (a cache holds exactly {@code startPos} positions when {@code forward} starts, so a
 * recomputation must truncate first and a message processed twice is an error, not silent
 * corruption), chunking of long calls into compute calls of at most {@code maxBatch} rows, and
 * truncate / release of both caches together. A backend (CPU, CUDA) supplies the computation:
 * the layers over one chunk, the head's layer, the head's projection, embedding and LM head.
 *
 * <p>A compute call is handed its cache and its positions explicitly, never a sequence id, so a
 * call that carries rows of several sequences (segments, each with its own cache and start) is a
 * loop over segments here and, in the backend, the same weights read once for every segment.
 *
 * <p>Used by one thread at a time, as {@link StageExecutor} says.
 */
public abstract class LayerStackExecutor<C extends SequenceKv> implements StageExecutor {
    private final StageSpec spec;
    private final ModelConfig config;
    private final int maxBatch;
    private final SequenceTable<C> caches = new SequenceTable<>();
    private final SequenceTable<C> headCaches = new SequenceTable<>();

    protected LayerStackExecutor(ModelConfig config, StageSpec spec, int maxBatch) {
        if (spec.layers().to() > config.numLayers()) {
            throw new IllegalArgumentException("stage layers " + spec.layers() + " exceed the model's " + config.numLayers() + " layers");
        }
        if (maxBatch < 1) throw new IllegalArgumentException("a compute call needs room for at least 1 row, got " + maxBatch);
        this.spec = spec;
        this.config = config;
        this.maxBatch = maxBatch;
    }

    /** A cache of {@code layers} layers for one sequence (the stage's layers, or 1 for a head's own layer). */
    protected abstract C newCache(int layers);

    /**
     * The stage's layers over rows [row0, row0 + rows) of {@code hidden} (rows ≤ maxBatch), in place,
     * for positions [startPos, startPos + rows); appends their keys and values to {@code cache},
     * which has room for them and holds exactly {@code startPos} positions.
     */
    protected abstract void computeLayers(C cache, int startPos, int rows, float[] hidden, int row0);

    /** True when the exit head has a decoder layer (and so a cache) of its own. */
    protected abstract boolean headHasLayer();

    /**
     * The exit head's own layer over rows [row0, row0 + rows) of {@code hidden} (which stays
     * unchanged: it goes downstream), for positions [startPos, startPos + rows), appending to
     * {@code cache}; when {@code lastChunk}, writes the head's logits of the chunk's last row.
     */
    protected abstract void computeHeadLayer(C cache, int startPos, int rows, float[] hidden, int row0, boolean lastChunk, float[] logits);

    /** A head without a layer: its norm and projection of row {@code row} of {@code hidden}. */
    protected abstract void computeHeadProjection(float[] hidden, int row, float[] logits);

    /** Called before a sequence's caches are freed (a device may still be using them). */
    protected void beforeRelease() {}

    @Override
    public final StageSpec spec() {
        return spec;
    }

    @Override
    public final ModelConfig config() {
        return config;
    }

    /** Most rows per compute call; longer calls are chunked. */
    public final int maxBatch() {
        return maxBatch;
    }

    @Override
    public final void forward(long seq, int startPos, int n, float[] hidden) {
        C cache = caches.get(seq);
        if (cache == null) cache = caches.put(seq, newCache(spec.layers().count()));
        requireAt(cache, seq, startPos, false);
        cache.reserve(startPos + n);
        for (int r0 = 0; r0 < n; r0 += maxBatch) {
            int m = Math.min(maxBatch, n - r0);
            computeLayers(cache, startPos + r0, m, hidden, r0);
            cache.setLength(startPos + r0 + m);
        }
    }

    @Override
    public final void draft(long seq, int startPos, int rows, float[] hidden, float[] logits) {
        if (!spec.drafts()) throw new IllegalStateException(spec + " has no exit head");
        if (!headHasLayer()) {
            computeHeadProjection(hidden, rows - 1, logits);
            return;
        }
        C cache = headCaches.get(seq);
        if (cache == null) cache = headCaches.put(seq, newCache(1));
        requireAt(cache, seq, startPos, true);
        cache.reserve(startPos + rows);
        for (int r0 = 0; r0 < rows; r0 += maxBatch) {
            int m = Math.min(maxBatch, rows - r0);
            computeHeadLayer(cache, startPos + r0, m, hidden, r0, r0 + m == rows, logits);
            cache.setLength(startPos + r0 + m);
        }
    }

    /** The rollback rule; the message is built only when it is broken (this runs per token). */
    private void requireAt(SequenceKv cache, long seq, int startPos, boolean head) {
        if (cache.length() != startPos) {
            throw new IllegalStateException("sequence " + seq + " has " + cache.length() + " cached positions in "
                    + (head ? "the exit head of " + spec : "stage " + spec.layers()) + " but the call starts at " + startPos
                    + " (truncate first to recompute)");
        }
    }

    @Override
    public final int length(long seq) {
        C c = caches.get(seq);
        return c == null ? 0 : c.length();
    }

    /** Positions the exit head has cached for {@code seq} (0 without a head layer). */
    public final int headLength(long seq) {
        C c = headCaches.get(seq);
        return c == null ? 0 : c.length();
    }

    /** Sequences holding a cache here (leak checks). */
    public final int cachedSequences() {
        return caches.size();
    }

    @Override
    public final void truncate(long seq, int length) {
        C c = caches.get(seq);
        if (c == null) {
            if (length != 0) throw new IllegalArgumentException("sequence " + seq + " has no cache to truncate to " + length);
            return;
        }
        c.truncate(length);
        // The head sees every position the stage computes, but may lag behind it by a call.
        C h = headCaches.get(seq);
        if (h != null) h.truncate(Math.min(length, h.length()));
    }

    @Override
    public final void release(long seq) {
        C c = caches.get(seq), h = headCaches.get(seq);
        if (c == null && h == null) return;
        beforeRelease();
        caches.remove(seq);
        headCaches.remove(seq);
        if (c != null) c.close();
        if (h != null) h.close();
    }

    /** Frees every sequence's caches; a backend's {@code close} calls this before freeing its own resources. */
    protected final void releaseAll() {
        beforeRelease();
        caches.forEachValue(SequenceKv::close);
        headCaches.forEachValue(SequenceKv::close);
        caches.clear();
        headCaches.clear();
    }
}
