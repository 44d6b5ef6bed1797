package io.ppsd.runtime.cpu;

import io.ppsd.runtime.heads.ExitHeadFile;
import io.ppsd.runtime.model.DType;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.KvBudget;
import io.ppsd.runtime.stage.LayerStackExecutor;
import io.ppsd.runtime.stage.StageSpec;
import java.lang.foreign.Arena;

/**
 * A pipeline stage on CPU cores: the layers of its {@link StageSpec} read from the memory-mapped
 * model and computed on a {@link CoreGroup}; the per-sequence {@link KvCache}s and their rules are
 * {@link LayerStackExecutor}'s.
 */
public final class CpuStageExecutor extends LayerStackExecutor<KvCache> {
    private final KvBlocks blocks = new KvBlocks();
    /** Positions computed together in prefill/verification; bounds scratch memory. */
    public static final int DEFAULT_MAX_BATCH = 32;

    private final LayerWeights[] layers;
    private final Matrix embedding;
    private final float[] finalNorm;
    private final Matrix lmHead;
    private final CoreGroup cores;
    private final boolean ownsCores;
    private final CpuForward forward;
    private final CpuExitHead head;
    private final Arena arena = Arena.ofShared();

    public CpuStageExecutor(ModelFiles files, StageSpec spec, int threads, LoadProgress progress) {
        this(files, spec, new CoreGroup(threads, "stage" + spec.layers().from()), true, DEFAULT_MAX_BATCH, progress);
    }

    public CpuStageExecutor(ModelFiles files, StageSpec spec, CoreGroup cores, boolean ownsCores, int maxBatch, LoadProgress progress) {
        this(files, spec, cores, ownsCores, maxBatch, DType.F32, progress);
    }

    /**
     * With {@code kvDtype} BF16 the cached keys and values are rounded to BF16 as they are stored
     * (still held as floats): the numbers a CUDA stage with its default BF16 cache computes, so
     * the two backends can be compared closely.
     */
    public CpuStageExecutor(ModelFiles files, StageSpec spec, CoreGroup cores, boolean ownsCores, int maxBatch, DType kvDtype, LoadProgress progress) {
        super(files.config(), spec, maxBatch);
        useBudget(KvBudget.javaHeap());
        ModelConfig config = files.config();
        this.cores = cores;
        this.ownsCores = ownsCores;
        int total = spec.layers().count() + (spec.embedding() ? 1 : 0) + (spec.lmHead() ? 1 : 0) + (spec.drafts() ? 1 : 0);
        int done = 0;
        this.embedding = spec.embedding() ? Matrix.of(files.tensor("model.embed_tokens.weight"), arena) : null;
        if (spec.embedding()) progress.loaded(++done, total, "embeddings");
        this.layers = new LayerWeights[spec.layers().count()];
        for (int i = 0; i < layers.length; i++) {
            int layer = spec.layers().from() + i;
            layers[i] = LayerWeights.of(files, layer, arena);
            layers[i].prefetch();
            progress.loaded(++done, total, "layer " + layer);
        }
        if (spec.lmHead()) {
            finalNorm = Matrix.vector(files.tensor("model.norm.weight"));
            lmHead = Matrix.of(files.lmHead(), arena);
            if (lmHead.data().isMapped()) lmHead.data().load();
            progress.loaded(++done, total, "LM head");
        } else {
            finalNorm = null;
            lmHead = null;
        }
        this.forward = new CpuForward(config, cores, maxBatch, kvDtype);
        if (spec.drafts()) {
            var file = ExitHeadFile.read(files.dir(), spec.exitHead(), spec.layers().to(), config, arena);
            if (file.exitLayer() != spec.layers().to()) {
                throw new IllegalArgumentException("exit head '" + spec.exitHead() + "' exits at layer " + file.exitLayer()
                        + " but the drafting stage ends at layer " + spec.layers().to());
            }
            this.head = new CpuExitHead(file, files, forward, arena);
            progress.loaded(++done, total, "exit head " + spec.exitHead());
        } else {
            this.head = null;
        }
    }

    /** The cores this stage computes on (exit heads attached to the stage share them). */
    public CoreGroup cores() {
        return cores;
    }

    @Override
    protected KvCache newCache(int layerCount) {
        return new KvCache(layerCount, config().kvDim(), config().maxPositions(), blocks);
    }

    /** The KV blocks this stage's caches hold now (its layers' and its exit head's). */
    public long kvBlocksHeld() {
        return blocks.held();
    }

    @Override
    protected void computeLayers(Segments<KvCache> segments, float[] hidden, int row0) {
        for (int l = 0; l < layers.length; l++) forward.layer(layers[l], segments, l, hidden, row0);
    }

    @Override
    protected boolean headHasLayer() {
        return head.hasLayer();
    }

    @Override
    protected void computeHeadLayer(Segments<KvCache> segments, float[] hidden, int row0, float[] out) {
        head.layer(segments, hidden, row0, out);
    }

    @Override
    protected void computeHeadLogits(float[] rows, int row0, int n, float[] logits, int outRow) {
        head.logits(rows, row0, n, logits, outRow);
    }

    @Override
    protected void computeEmbedding(int[] tokens, int off, int n, float[] hidden) {
        int dim = config().hiddenSize();
        for (int t = 0; t < n; t++) embedding.row(tokens[off + t], hidden, t * dim);
    }

    @Override
    public void logits(float[] hidden, int rows, float[] out) {
        if (lmHead == null) throw new IllegalStateException("stage " + spec().layers() + " has no LM head");
        forward.logits(finalNorm, lmHead, hidden, rows, out);
    }

    @Override
    public void close() {
        releaseAll();
        if (ownsCores) cores.close();
        arena.close();
    }
}
