package io.ppsd.cuda;

import io.ppsd.runtime.decode.DeviceStep;
import io.ppsd.runtime.decode.Sampler;
import io.ppsd.runtime.heads.ExitHeadFile;
import io.ppsd.runtime.heads.ExitHeadKind;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.KvBudget;
import io.ppsd.runtime.stage.LayerStackExecutor;
import io.ppsd.runtime.stage.StageSpec;
import java.lang.foreign.Arena;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A pipeline stage on one CUDA device: the weights of its {@link StageSpec} uploaded once (in their
 * stored dtype), one device KV cache per sequence, and the kernels of {@code src/main/cuda}
 * launched through the driver API. Computes what {@code CpuStageExecutor} computes.
 *
 * <p>Construction fails with {@link CudaUnavailableException} when there is no usable driver or no
 * such device; nothing else in the process is affected.
 */
public final class CudaStageExecutor extends LayerStackExecutor<DeviceKvCache> implements DeviceStep {
    private static final Logger log = LoggerFactory.getLogger(CudaStageExecutor.class);

    private final CudaSettings settings;
    private final CudaDevice device;
    private final KernelModules kernels;
    private final KernelLaunch launch;
    private final DeviceWeights weights;
    private final DeviceLayer[] layers;
    private final DeviceMatrix embedding;
    private final DeviceBuffer finalNorm;
    private final DeviceMatrix lmHead;
    private final CudaForward forward;
    private final CudaExitHead head;
    private final GpuTimer timer;
    private final Arena arena = Arena.ofShared();
    private boolean closed;

    /** Stage {@code spec} of the model on device {@code settings.device()}. */
    public CudaStageExecutor(ModelFiles files, StageSpec spec, CudaSettings settings, LoadProgress progress) {
        super(files.config(), spec, settings.maxBatch());
        ModelConfig config = files.config();
        this.settings = settings;
        this.device = CudaDevice.open(settings.device());
        // Everything below allocates on the device; a failure part-way frees what was taken.
        KernelModules modules = null;
        KernelLaunch launcher = null;
        DeviceWeights uploaded = null;
        CudaForward computation = null;
        try {
            this.kernels = modules = new KernelModules(device, settings.kernels());
            this.launch = launcher = new KernelLaunch(kernels, device);
            this.weights = uploaded = new DeviceWeights(device);
            ExitHeadFile headFile = spec.drafts() ? ExitHeadFile.read(files.dir(), spec.exitHead(), spec.layers().to(), config, arena) : null;
            if (headFile != null && headFile.exitLayer() != spec.layers().to()) {
                throw new IllegalArgumentException("exit head '" + spec.exitHead() + "' exits at layer " + headFile.exitLayer()
                        + " but the drafting stage ends at layer " + spec.layers().to());
            }
            boolean headNeedsModelHead = headFile != null && headFile.kind() != ExitHeadKind.LINEAR;
            int total = spec.layers().count() + (spec.embedding() ? 1 : 0) + (spec.lmHead() ? 1 : 0) + (spec.drafts() ? 1 : 0);
            int done = 0;
            embedding = spec.embedding() ? weights.matrix(files.tensor("model.embed_tokens.weight")) : null;
            if (spec.embedding()) progress.loaded(++done, total, "embeddings");
            layers = new DeviceLayer[spec.layers().count()];
            for (int i = 0; i < layers.length; i++) {
                int layer = spec.layers().from() + i;
                layers[i] = DeviceLayer.upload(n -> files.tensor("model.layers." + layer + "." + n), config, weights);
                progress.loaded(++done, total, "layer " + layer);
            }
            // A reduced-vocabulary head uploads only its rows of the LM head (CudaExitHead), not the whole of it.
            boolean fullHeadForDrafts = headNeedsModelHead && headFile.vocabulary() == null;
            finalNorm = spec.lmHead() || headNeedsModelHead ? weights.vector(files.tensor("model.norm.weight")) : null;
            lmHead = spec.lmHead() || fullHeadForDrafts ? weights.matrix(files.lmHead()) : null;
            if (spec.lmHead()) progress.loaded(++done, total, "LM head");
            this.forward = computation = new CudaForward(config, device, launch, weights, settings.maxBatch(), spec.lmHead() || spec.drafts(), settings.kvDtype(), settings.graphs());
            head = headFile == null ? null : new CudaExitHead(headFile, config, forward, weights, finalNorm, lmHead, files.lmHead());
            if (spec.drafts()) progress.loaded(++done, total, "exit head " + spec.exitHead());
            timer = settings.profile() ? new GpuTimer(device) : null;
            device.synchronize();
            long left = device.properties().totalBytes() - weights.bytes();
            useBudget(KvBudget.of("CUDA device " + settings.device(), Math.max(1, (long) (settings.kvCacheFraction() * left))));
        } catch (RuntimeException e) {
            if (computation != null) computation.close();
            if (uploaded != null) uploaded.close();
            if (launcher != null) launcher.close();
            if (modules != null) modules.close();
            device.close();
            arena.close();
            throw e;
        }
        log.info("{} on CUDA device {} ({}): {} MiB of weights", spec, settings.device(), device.properties().name(), weights.bytes() >> 20);
    }

    /** The device this stage runs on. */
    public CudaDevice.Properties device() {
        return device.properties();
    }

    /** The ids of a stage-0 call's span of drafted rows. */
    private int[] spanDrafts = new int[0];

    @Override
    protected DeviceKvCache newCache(int layerCount) {
        enter();
        return new DeviceKvCache(device, layerCount, config().kvDim(), config().maxPositions(), settings.kvDtype());
    }

    @Override
    protected int kvElementBytes() {
        return settings.kvDtype().bytes;
    }

    @Override
    protected void computeLayers(Segments<DeviceKvCache> segments, float[] hidden, int row0) {
        enter();
        startTimer();
        int rows = segments.totalRows();
        forward.bind(segments);
        forward.upload(hidden, row0, rows);
        for (int l = 0; l < layers.length; l++) forward.layer(layers[l], l, rows);
        forward.download(hidden, row0, rows);
        stopTimer("forward", rows);
    }

    @Override
    protected boolean headHasLayer() {
        return head.hasLayer();
    }

    @Override
    protected void computeHeadLayer(Segments<DeviceKvCache> segments, float[] hidden, int row0, float[] out) {
        enter();
        startTimer();
        head.layer(segments, hidden, row0, out);
        stopTimer("draft layer", segments.totalRows());
    }

    @Override
    protected void computeHeadLogits(float[] rows, int row0, int n, float[] logits, int outRow) {
        enter();
        startTimer();
        head.logits(rows, row0, n, logits, outRow);
        stopTimer("draft", n);
    }

    /** Full-vocabulary heads pick on the device; a reduced head's logits come back (its ids and ties are the host's). */
    @Override
    protected void computeHeadArgmax(float[] rows, int row0, int n, int[] tokens, int outRow) {
        if (!head.fullVocabulary()) {
            super.computeHeadArgmax(rows, row0, n, tokens, outRow);
            return;
        }
        enter();
        startTimer();
        head.argmax(rows, row0, n, tokens, outRow);
        stopTimer("greedy draft", n);
    }

    /** A full-vocabulary head drafts where the rows are; a reduced head's ids map through the host. */
    @Override
    protected boolean fusesStageZero() {
        return head != null && head.fullVocabulary();
    }

    /**
     * Stage 0's compute call on the device from token ids to draft ids: the ids go in with the row
     * table (one copy), embedding, layers; the output rows are queued back (they go downstream)
     * before the head's layer, if any, changes them in place (its row table: a second small copy);
     * the projection and argmax of the contiguous device rows spanning the segments' last rows (at
     * stage 0 those are decode rows and a prefill chunk's end: adjacent); 8 bytes a row back.
     */
    @Override
    protected void computeStageZeroChunk(Segments<DeviceKvCache> layerRows, Segments<DeviceKvCache> headRows, int[] ids, float[] hidden, int row0,
                                         int[] draftRows, int heads, int[] drafts) {
        enter();
        startTimer();
        int n = layerRows.totalRows();
        forward.bind(layerRows);
        forward.embed(embedding, ids, 0, n);
        for (int l = 0; l < layers.length; l++) forward.layer(layers[l], l, n);
        forward.queueRows(n);
        if (headRows != null) head.layerOnDeviceRows(headRows);
        if (heads > 0) {
            int first = draftRows[0], span = draftRows[heads - 1] - first + 1;
            if (spanDrafts.length < span) spanDrafts = new int[span];
            head.argmaxOfDeviceRows(first, span, spanDrafts, 0);
            for (int e = 0; e < heads; e++) drafts[e] = spanDrafts[draftRows[e] - first];
        }
        forward.takeRows(hidden, row0, n);
        stopTimer("stage 0", n);
    }

    /** Kernels queued on the stage's stream may still use a cache that is about to be freed. */
    @Override
    protected void beforeRelease() {
        enter();
        device.synchronize();
    }

    @Override
    protected void computeEmbedding(int[] tokens, int off, int n, float[] hidden) {
        enter();
        int chunk = forward.maxBatch();
        for (int r0 = 0; r0 < n; r0 += chunk) {
            int m = Math.min(chunk, n - r0);
            forward.embed(embedding, tokens, off + r0, m);
            forward.download(hidden, r0, m);
        }
    }

    /** Whether decoding steps replay a captured CUDA graph now (after the first step, unless graphs are off or failed). */
    boolean replaysGraphs() {
        return forward.replaysGraphs();
    }

    @Override
    public boolean canStepOnDevice() {
        StageSpec s = spec();
        return s.embedding() && s.lmHead() && s.layers().from() == 0 && s.layers().to() == config().numLayers() && (!s.drafts() || !head.hasLayer());
    }

    /** Embedding, layers, LM head and argmax on the device: one small copy each way and one synchronization per token. */
    @Override
    public int greedyStep(long seq, int pos, int token) {
        return step(seq, pos, token, 0f, 0);
    }

    /** As {@link #greedyStep}, with the token drawn on the device (the same captured graph: the parameters travel in the header). */
    @Override
    public int sampledStep(long seq, int pos, int token, float temperature, double uniform) {
        if (!(temperature > 0 && Float.isFinite(temperature))) throw new IllegalArgumentException("temperature must be > 0, got " + temperature);
        if (!(uniform >= 0 && uniform < 1)) throw new IllegalArgumentException("uniform must be in [0, 1), got " + uniform);
        return step(seq, pos, token, temperature, uniform);
    }

    private int step(long seq, int pos, int token, float temperature, double uniform) {
        if (!canStepOnDevice()) throw new IllegalStateException(spec() + " cannot run a whole decoding step");
        if (token < 0 || token >= config().vocabSize()) {
            throw new IllegalArgumentException("token id " + token + " outside the vocabulary [0, " + config().vocabSize() + ")");
        }
        enter();
        startTimer();
        DeviceKvCache cache = cacheForStep(seq, pos);
        forward.bind(cache, pos, 1);
        int next = forward.step(embedding, layers, finalNorm, lmHead, token, temperature, uniform);
        stepDone(cache, pos);
        stopTimer(temperature == 0 ? "greedy step" : "sampled step", 1);
        float logit = forward.chosenLogit();
        if (Float.isNaN(logit) || logit == Float.POSITIVE_INFINITY) {
            throw new Sampler.NonFiniteLogitsException("the model produced a non-finite logit (NaN or +inf in the row; token " + next
                    + "): its weights are broken (NaN or infinite values)");
        }
        return next;
    }

    @Override
    public void logits(float[] hidden, int rows, float[] out) {
        if (lmHead == null || !spec().lmHead()) throw new IllegalStateException("stage " + spec().layers() + " has no LM head");
        enter();
        startTimer();
        int chunk = forward.maxBatch();
        for (int r0 = 0; r0 < rows; r0 += chunk) {
            int m = Math.min(chunk, rows - r0);
            forward.upload(hidden, r0, m);
            forward.logits(finalNorm, lmHead, 0, m);
            forward.downloadLogits(out, r0, m);
        }
        stopTimer("logits", rows);
    }

    @Override
    public void close() {
        if (closed) return;
        releaseAll();
        if (timer != null) timer.close();
        forward.close();
        weights.close();
        launch.close();
        kernels.close();
        device.close();
        arena.close();
        closed = true;
    }

    private void enter() {
        if (closed) throw new IllegalStateException(spec() + " on CUDA device " + settings.device() + " is closed");
        device.makeCurrent();
    }

    private void startTimer() {
        if (timer != null) timer.start();
    }

    private void stopTimer(String what, int rows) {
        if (timer != null) log.debug("{} {}: {} rows in {} ms (device time)", spec(), what, rows, timer.stop());
    }
}
