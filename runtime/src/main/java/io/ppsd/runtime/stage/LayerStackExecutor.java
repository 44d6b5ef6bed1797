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
 * <p>A compute call is handed {@link Segments}: runs of rows, each with its own cache and start
 * position, never sequence ids. A call for one sequence is one segment; a {@link StageBatch} of
 * several sequences is several, and the backend reads each weight once for all of their rows.
 *
 * <p>Used by one thread at a time, as {@link StageExecutor} says.
 */
public abstract class LayerStackExecutor<C extends SequenceKv> implements StageExecutor {
    private final StageSpec spec;
    private final ModelConfig config;
    private final int maxBatch;
    private final SequenceTable<C> caches = new SequenceTable<>();
    private final SequenceTable<C> headCaches = new SequenceTable<>();
    private final Segments<C> chunk;
    private KvBudget budget = KvBudget.unlimited();
    /** Per segment of a batch being computed: its layer cache, and its head cache. */
    private final java.util.ArrayList<C> batchCaches = new java.util.ArrayList<>(), headBatchCaches = new java.util.ArrayList<>();
    /** Stage 0 in one piece: a compute call's token ids, its drafts, and its head segments (made on first use). */
    private int[] chunkIds, chunkDrafts;
    private Segments<C> headChunk;
    /** Reused for calls of one sequence, so they allocate nothing. */
    private final StageBatch oneSequence = new StageBatch();
    /** Drafting's scratch: each segment's last row (after the head's layer, if it has one), the head layer's output rows of one compute call, and which segments end in it. */
    private float[] lastRows = new float[0];
    private float[] headOut, greedyLogits, embedScratch = new float[0];
    private final int[] endedSegment, endedRow, chunkSegment;
    /** Where chunking a batch into compute calls stands: segment, rows of it done, rows done in all. */
    private final int[] cursor = new int[3];

    protected LayerStackExecutor(ModelConfig config, StageSpec spec, int maxBatch) {
        if (spec.layers().to() > config.numLayers()) {
            throw new IllegalArgumentException("stage layers " + spec.layers() + " exceed the model's " + config.numLayers() + " layers");
        }
        if (maxBatch < 1) throw new IllegalArgumentException("a compute call needs room for at least 1 row, got " + maxBatch);
        this.spec = spec;
        this.config = config;
        this.maxBatch = maxBatch;
        this.chunk = new Segments<>(maxBatch);
        this.endedSegment = new int[maxBatch];
        this.endedRow = new int[maxBatch];
        this.chunkSegment = new int[maxBatch];
    }

    /** A cache of {@code layers} layers for one sequence (the stage's layers, or 1 for a head's own layer). */
    protected abstract C newCache(int layers);

    /**
     * The rows of one compute call (at most maxBatch in all), in order: segment i is {@code rows[i]}
     * consecutive rows at positions [starts[i], starts[i] + rows[i]) of the sequence whose cache is
     * {@code caches[i]}; that cache has room for them and holds exactly {@code starts[i]} positions.
     * Reused from call to call.
     */
    public static final class Segments<C> {
        private final Object[] caches;
        private final int[] starts;
        private final int[] rows;
        private int count;
        private int total;

        Segments(int capacity) {
            caches = new Object[capacity];
            starts = new int[capacity];
            rows = new int[capacity];
        }

        void clear() {
            count = 0;
            total = 0;
        }

        void add(C cache, int start, int n) {
            caches[count] = cache;
            starts[count] = start;
            rows[count] = n;
            count++;
            total += n;
        }

        public int count() {
            return count;
        }

        /** Rows of all segments together. */
        public int totalRows() {
            return total;
        }

        @SuppressWarnings("unchecked")
        public C cache(int i) {
            return (C) caches[i];
        }

        public int start(int i) {
            return starts[i];
        }

        public int rows(int i) {
            return rows[i];
        }
    }

    /**
     * The stage's layers over rows [row0, row0 + segments.totalRows()) of {@code hidden}, in place;
     * appends each segment's keys and values to its cache.
     */
    protected abstract void computeLayers(Segments<C> segments, float[] hidden, int row0);

    /** True when the exit head has a decoder layer (and so a cache) of its own. */
    protected abstract boolean headHasLayer();

    /**
     * The exit head's own layer over one compute call's rows, [row0, row0 + segments.totalRows())
     * of {@code hidden}, which stays unchanged (it goes downstream): each segment appends to its
     * head cache, and the layer's output rows go to rows 0.. of {@code out}.
     */
    protected abstract void computeHeadLayer(Segments<C> segments, float[] hidden, int row0, float[] out);

    /**
     * The exit head's norm and projection of rows [row0, row0 + n) of {@code rows}, n ≤ maxBatch,
     * weights read once for all: their logits over the full vocabulary go to rows [outRow, outRow +
     * n) of {@code logits}.
     */
    protected abstract void computeHeadLogits(float[] rows, int row0, int n, float[] logits, int outRow);

    /** The embedding rows of {@code n} token ids, already checked against the vocabulary. */
    protected abstract void computeEmbedding(int[] tokens, int off, int n, float[] hidden);

    /** Checks the ids (a bad one is the request's fault, and names itself), then embeds them. */
    @Override
    public final void embed(int[] tokens, int off, int n, float[] hidden) {
        if (!spec.embedding()) throw new IllegalStateException("stage " + spec.layers() + " has no embedding");
        requireTokens(tokens, off, n);
        computeEmbedding(tokens, off, n, hidden);
    }

    /** Each segment embedded in turn through one scratch buffer (a call allocates nothing once it has seen its longest segment). */
    @Override
    public final void embed(StageBatch batch, java.util.function.LongFunction<int[]> tokensOf, float[] hidden) {
        int dim = config.hiddenSize();
        for (int i = 0; i < batch.size(); i++) {
            int n = batch.rows(i);
            if (embedScratch.length < n * dim) embedScratch = new float[n * dim];
            embed(tokensOf.apply(batch.seq(i)), batch.start(i), n, embedScratch);
            System.arraycopy(embedScratch, 0, hidden, batch.rowOffset(i) * dim, n * dim);
        }
    }

    /** Token ids must lie in the vocabulary (a bad one is the request's fault, and names itself). */
    private void requireTokens(int[] tokens, int off, int n) {
        for (int t = 0; t < n; t++) {
            int id = tokens[off + t];
            if (id < 0 || id >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + id + " outside the vocabulary [0, " + config.vocabSize() + ")");
            }
        }
    }

    /** Called before a sequence's caches are freed (a device may still be using them). */
    protected void beforeRelease() {}

    /** Bytes one cached position costs on this stage: keys and values of its layers and of the head's layer. */
    protected final long kvBytesPerPosition() {
        int layers = spec.layers().count() + (spec.drafts() && headHasLayer() ? 1 : 0);
        return 2L * layers * config.kvDim() * kvElementBytes();
    }

    /** Bytes of one cached key or value element (4: F32; a backend that caches BF16 says 2). */
    protected int kvElementBytes() {
        return Float.BYTES;
    }

    /** The budget this stage's caches are reserved from (shared by the stages of one device). */
    public final void useBudget(KvBudget budget) {
        this.budget = budget;
    }

    public final KvBudget budget() {
        return budget;
    }

    @Override
    public final void admit(long seq, int maxPositions) {
        C cache = caches.get(seq);
        if (cache == null) cache = caches.put(seq, newCache(spec.layers().count()));
        budgetFor(cache, seq, maxPositions);
    }

    @Override
    public final void reserveAhead(long seq, int maxPositions) {
        budget.reserve(this, seq, maxPositions, kvBytesPerPosition()); // KvBudget is thread-safe; nothing else is touched
    }

    @Override
    public final void cancelReservation(long seq) {
        budget.release(this, seq);
    }

    /** Reserves in the budget when a call goes past what the sequence holds there (rarely: admission reserves it all). */
    private void budgetFor(C cache, long seq, int positions) {
        if (positions <= cache.budgeted) return;
        budget.reserve(this, seq, positions, kvBytesPerPosition());
        cache.budgeted = positions;
    }

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

    /** A call for one sequence: a batch of one segment (the same rules, the same chunking). */
    @Override
    public final void forward(long seq, int startPos, int n, float[] hidden) {
        oneSequence.clear();
        forward(oneSequence.add(seq, startPos, n), hidden);
    }

    /**
     * Every segment's rows in compute calls of at most maxBatch rows, a call spanning segments when
     * they are short (decode rows of many sequences share one read of the weights). The rules are
     * checked for every segment before anything is computed, so a bad segment changes no cache.
     */
    @Override
    public final void forward(StageBatch batch, float[] hidden) {
        prepareLayers(batch);
        java.util.Arrays.fill(cursor, 0);
        while (cursor[0] < batch.size()) {
            int row0 = cursor[2];
            nextChunk(batch, batchCaches);
            computeLayers(chunk, hidden, row0);
            computed(chunk);
        }
    }

    /** Each segment's layer cache into batchCaches, after checking the rule for all of them; room and budget reserved for the batch's rows. */
    private void prepareLayers(StageBatch batch) {
        batchCaches.clear();
        for (int i = 0; i < batch.size(); i++) {
            long seq = batch.seq(i);
            C cache = caches.get(seq);
            if (cache == null) cache = caches.put(seq, newCache(spec.layers().count()));
            requireAt(cache, seq, batch.start(i), false);
            batchCaches.add(cache);
        }
        for (int i = 0; i < batch.size(); i++) budgetFor(batchCaches.get(i), batch.seq(i), batch.start(i) + batch.rows(i));
        for (int i = 0; i < batch.size(); i++) batchCaches.get(i).reserve(batch.start(i) + batch.rows(i));
    }

    /** Each segment's head cache into headBatchCaches (created on first use, under the stage's reservation), the rule checked for all; room reserved. */
    private void prepareHead(StageBatch batch) {
        headBatchCaches.clear();
        for (int i = 0; i < batch.size(); i++) {
            long seq = batch.seq(i);
            C cache = headCaches.get(seq);
            if (cache == null) cache = headCaches.put(seq, newCache(1));
            C layers = caches.get(seq);
            if (layers != null) cache.budgeted = layers.budgeted; // the stage's reservation covers the head's layer too
            requireAt(cache, seq, batch.start(i), true);
            headBatchCaches.add(cache);
        }
        for (int i = 0; i < batch.size(); i++) headBatchCaches.get(i).reserve(batch.start(i) + batch.rows(i));
    }

    /**
     * Fills {@code chunk} with the next compute call's rows of {@code batch} (segment i's cache:
     * {@code segmentCaches.get(i)}), from {@link #cursor} on, which it advances; returns how many
     * segments end in the call, their indices and rows within it in endedSegment / endedRow. The
     * batch segment of each chunk entry goes to chunkSegment.
     */
    private int nextChunk(StageBatch batch, java.util.List<C> segmentCaches) {
        chunk.clear();
        int ended = 0;
        while (cursor[0] < batch.size() && chunk.totalRows() < maxBatch) {
            int segment = cursor[0];
            int m = Math.min(batch.rows(segment) - cursor[1], maxBatch - chunk.totalRows());
            chunkSegment[chunk.count()] = segment;
            chunk.add(segmentCaches.get(segment), batch.start(segment) + cursor[1], m);
            cursor[1] += m;
            cursor[2] += m;
            if (cursor[1] == batch.rows(segment)) {
                endedSegment[ended] = segment;
                endedRow[ended++] = chunk.totalRows() - 1;
                cursor[0]++;
                cursor[1] = 0;
            }
        }
        return ended;
    }

    /**
     * A one-row step that a backend computes in one piece (a greedy step on the device) under
     * forward's rules: returns the sequence's cache, holding exactly {@code pos} positions and with
     * room for one more; {@link #stepDone} records the position afterwards. Not for a stage whose
     * exit head has a layer (that head must see every position).
     */
    protected final C cacheForStep(long seq, int pos) {
        if (spec.drafts() && headHasLayer()) throw new IllegalStateException(spec + ": a one-piece step would skip the exit head's layer");
        C cache = caches.get(seq);
        if (cache == null) cache = caches.put(seq, newCache(spec.layers().count()));
        requireAt(cache, seq, pos, false);
        budgetFor(cache, seq, pos + 1);
        cache.reserve(pos + 1);
        return cache;
    }

    /** After a {@link #cacheForStep} step: the cache holds position {@code pos}. */
    protected final void stepDone(C cache, int pos) {
        cache.setLength(pos + 1);
    }

    /** A draft for one sequence: a batch of one segment (the same rules, the same chunking). */
    @Override
    public final void draft(long seq, int startPos, int rows, float[] hidden, float[] logits) {
        oneSequence.clear();
        draft(oneSequence.add(seq, startPos, rows), hidden, logits);
    }

    /**
     * The exit head over every segment of a batch, each weight read once per compute call (not once
     * per sequence): a head with a layer runs it over every row, since its cache must see every
     * position the stage computes, in compute calls of at most maxBatch rows spanning segments; then
     * the norm and projection of each segment's last row, at most maxBatch rows per call. The head
     * caches' rule is checked for every segment before anything is computed.
     */
    @Override
    public final void draft(StageBatch batch, float[] hidden, float[] logits) {
        int n = headRows(batch, hidden);
        for (int g = 0; g < n; g += maxBatch) computeHeadLogits(lastRows, g, Math.min(maxBatch, n - g), logits, g);
    }

    /** {@link #draft(StageBatch, float[], float[])}'s head, then each segment's argmax ({@link #computeHeadArgmax}). */
    @Override
    public final void draftGreedy(StageBatch batch, float[] hidden, int[] tokens) {
        int n = headRows(batch, hidden);
        for (int g = 0; g < n; g += maxBatch) computeHeadArgmax(lastRows, g, Math.min(maxBatch, n - g), tokens, g);
    }

    /** The rows the head projects, one per segment, into lastRows (through the head's layer if it has one); returns their count. */
    private int headRows(StageBatch batch, float[] hidden) {
        if (!spec.drafts()) throw new IllegalStateException(spec + " has no exit head");
        int dim = config.hiddenSize(), n = batch.size();
        if (lastRows.length < n * dim) lastRows = new float[n * dim];
        if (!headHasLayer()) {
            for (int i = 0; i < n; i++) System.arraycopy(hidden, (batch.rowOffset(i) + batch.rows(i) - 1) * dim, lastRows, i * dim, dim);
        } else {
            headLayer(batch, hidden, dim);
        }
        return n;
    }

    /**
     * The greedy drafts of rows [row0, row0 + n) of {@code rows} (n ≤ maxBatch) into tokens[outRow
     * ..]: as {@link StageExecutor#draftGreedy}. This computes the logits ({@link
     * #computeHeadLogits}) and picks on the host; a device overrides it to pick where they are.
     */
    protected void computeHeadArgmax(float[] rows, int row0, int n, int[] tokens, int outRow) {
        int vocab = config.vocabSize();
        if (greedyLogits == null) greedyLogits = new float[maxBatch * vocab];
        computeHeadLogits(rows, row0, n, greedyLogits, 0);
        for (int t = 0; t < n; t++) tokens[outRow + t] = io.ppsd.runtime.decode.Sampler.greedy(greedyLogits, t * vocab, vocab);
    }

    /** The head's layer over every row of the batch; each segment's last output row goes to lastRows[segment]. */
    private void headLayer(StageBatch batch, float[] hidden, int dim) {
        prepareHead(batch);
        if (headOut == null) headOut = new float[maxBatch * dim];
        java.util.Arrays.fill(cursor, 0);
        while (cursor[0] < batch.size()) {
            int chunkRow0 = cursor[2];
            int ended = nextChunk(batch, headBatchCaches);
            computeHeadLayer(chunk, hidden, chunkRow0, headOut);
            computed(chunk);
            for (int e = 0; e < ended; e++) System.arraycopy(headOut, endedRow[e] * dim, lastRows, endedSegment[e] * dim, dim);
        }
    }

    /**
     * Whether this backend computes a stage-0 chunk in one piece ({@link #computeStageZeroChunk});
     * otherwise {@link #embedForwardDraftGreedy} is embed, forward and draftGreedy in turn.
     */
    protected boolean fusesStageZero() {
        return false;
    }

    /**
     * One compute call of a greedy stage 0 in one piece: {@code ids[r]} is row r's token; embed the
     * rows, run the layers over {@code layers} (appending to their caches), put the output rows in
     * rows [row0, row0 + n) of {@code hidden}, run the head's layer over the same rows when it has
     * one ({@code head}: the same segments over the head caches, else null), and the greedy draft
     * of chunk rows {@code headRows[0..heads)} (ascending) into {@code drafts[0..heads)}.
     */
    protected void computeStageZeroChunk(Segments<C> layers, Segments<C> head, int[] ids, float[] hidden, int row0, int[] headRows, int heads,
                                         int[] drafts) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not compute stage 0 in one piece");
    }

    /**
     * Stage 0's call in one piece where the backend can ({@link #fusesStageZero}): the same rules
     * as forward and draft, checked for every segment (layer and head caches) before anything is
     * computed; the same chunking; the same numbers.
     */
    @Override
    public final void embedForwardDraftGreedy(StageBatch batch, java.util.function.LongFunction<int[]> tokensOf, float[] hidden, int[] drafts) {
        if (!fusesStageZero() || !spec.embedding() || !spec.drafts()) {
            StageExecutor.super.embedForwardDraftGreedy(batch, tokensOf, hidden, drafts);
            return;
        }
        for (int i = 0; i < batch.size(); i++) requireTokens(tokensOf.apply(batch.seq(i)), batch.start(i), batch.rows(i));
        boolean hasLayer = headHasLayer();
        if (hasLayer) { // the head's rule first: a broken one must leave the layer caches as they are
            for (int i = 0; i < batch.size(); i++) {
                C h = headCaches.get(batch.seq(i));
                requireAt(h == null ? 0 : h.length(), batch.seq(i), batch.start(i), true);
            }
        }
        prepareLayers(batch);
        if (hasLayer) prepareHead(batch);
        if (chunkIds == null) {
            chunkIds = new int[maxBatch];
            chunkDrafts = new int[maxBatch];
            headChunk = new Segments<>(maxBatch);
        }
        java.util.Arrays.fill(cursor, 0);
        while (cursor[0] < batch.size()) {
            int row0 = cursor[2];
            int ended = nextChunk(batch, batchCaches);
            headChunk.clear();
            for (int j = 0, r = 0; j < chunk.count(); r += chunk.rows(j), j++) {
                long seq = batch.seq(chunkSegment[j]);
                System.arraycopy(tokensOf.apply(seq), chunk.start(j), chunkIds, r, chunk.rows(j));
                if (hasLayer) headChunk.add(headBatchCaches.get(chunkSegment[j]), chunk.start(j), chunk.rows(j));
            }
            computeStageZeroChunk(chunk, hasLayer ? headChunk : null, chunkIds, hidden, row0, endedRow, ended, chunkDrafts);
            computed(chunk);
            computed(headChunk);
            for (int e = 0; e < ended; e++) drafts[endedSegment[e]] = chunkDrafts[e];
        }
    }

    /** After a compute call: each of its caches holds the positions it computed. */
    private static void computed(Segments<? extends SequenceKv> segments) {
        for (int i = 0; i < segments.count(); i++) segments.cache(i).setLength(segments.start(i) + segments.rows(i));
    }

    /** The rollback rule; the message is built only when it is broken (this runs per token). */
    private void requireAt(SequenceKv cache, long seq, int startPos, boolean head) {
        requireAt(cache.length(), seq, startPos, head);
    }

    private void requireAt(int length, long seq, int startPos, boolean head) {
        if (length != startPos) {
            throw new IllegalStateException("sequence " + seq + " has " + length + " cached positions in "
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
        budget.release(this, seq);
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
        budget.releaseAll(this);
        beforeRelease();
        caches.forEachValue(SequenceKv::close);
        headCaches.forEachValue(SequenceKv::close);
        caches.clear();
        headCaches.clear();
    }
}
