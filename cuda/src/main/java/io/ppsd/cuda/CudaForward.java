package io.ppsd.cuda;

import static io.ppsd.cuda.DriverCall.check;
import static org.bytedeco.cuda.global.cudart.cuMemcpyDtoHAsync;
import static org.bytedeco.cuda.global.cudart.cuMemcpyHtoDAsync;
import static org.bytedeco.cuda.global.cudart.cuMemsetD32;
import static org.bytedeco.cuda.global.cudart.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL;
import static org.bytedeco.cuda.global.cudart.cuGraphDestroy;
import static org.bytedeco.cuda.global.cudart.cuGraphExecDestroy;
import static org.bytedeco.cuda.global.cudart.cuGraphInstantiate;
import static org.bytedeco.cuda.global.cudart.cuGraphLaunch;
import static org.bytedeco.cuda.global.cudart.cuStreamBeginCapture;
import static org.bytedeco.cuda.global.cudart.cuStreamEndCapture;

import io.ppsd.runtime.model.DType;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.RopeFrequencies;
import io.ppsd.runtime.stage.LayerStackExecutor;
import org.bytedeco.cuda.cudart.CUgraphExec_st;
import org.bytedeco.cuda.cudart.CUgraph_st;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The LLaMA decoder computation as a sequence of kernel launches on one device, for up to
 * {@code maxBatch} positions at once (the same steps as the CPU backend's CpuForward):
 * <pre>
 *   h   = x + Wo · attention(rope(Wq · norm(x)), rope(Wk · norm(x)), Wv · norm(x))
 *   out = h + Wdown · (silu(Wgate · norm(h)) * (Wup · norm(h)))
 * </pre>
 * Decode and verification calls (at most {@link Kernel#GEMV_MAX_TOKENS} rows) run a layer in five
 * launches: norm + Q|K|V + bias + rotary + KV append ({@code qkv}), split attention with its merge,
 * Wo + residual, norm + gate|up + SwiGLU ({@code gate_up}), Wdown + residual. Longer calls
 * (prefill) and Qwen3's per-head norms take the unfused path: tiled GEMMs and separate steps.
 *
 * <p>The rows of a call are bound first ({@link #bind}): each row's cache and position go into a
 * table of PpsdRowSlots uploaded together with the hidden rows in one copy, and every kernel that
 * needs a position or a cache reads it there. Scratch buffers (device and pinned host) are
 * allocated once; a token allocates nothing.
 */
final class CudaForward implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CudaForward.class);

    private final CudaDevice device;
    private final KernelLaunch launch;
    private final int dim, qDim, kvDim, ffDim, heads, kvHeads, headDim, vocab, maxBatch;
    private final float eps, attnScale;
    private final RopeFrequencies rope;
    private final int maxPositions;
    private final KvDtype kvDtype;
    /** Multiprocessors of the device: grids are sized in whole waves of them. */
    private final int sms;
    /** Query heads per attention block, and blocks per KV head's group. */
    private final int headsPerBlock, headChunks;
    /** The rotary cos/sin tables on the device, for the positions used so far (grown by doubling). */
    private DeviceBuffer ropeCos, ropeSin;
    private int ropePositions;
    /**
     * [row table: maxBatch PpsdRowSlots | token ids: maxBatch ints | hidden rows x: maxBatch x dim
     * floats], uploaded in one copy (the header alone when only ids or positions change).
     */
    private final DeviceBuffer io;
    private final long tableBytes, headerBytes;
    /** Where a decoding step's temperature and uniform number sit in the header: the offset of the second token id (see step). */
    private final long stepParams;
    /** A decoding step's answer on the device: the chosen token id and its logit (NaN: broken logits). */
    private final DeviceBuffer choice;
    private final DeviceBuffer xb, q, k, v, att, hb, hb2, logits, partial, tickets;
    private final long partialFloats;
    private final PinnedBuffer ioStage, logitsStage, choiceStage;
    /** Greedy drafts of up to maxBatch logits rows: [ids: n ints | their logits: n floats], on the device and staged. */
    private final DeviceBuffer drafts;
    private final PinnedBuffer draftsStage;
    /** Where the hidden rows start in {@code ioStage} (made once: a call allocates nothing). */
    private final org.bytedeco.javacpp.Pointer ioStageRows;
    /** True while a queued copy may still use a staging buffer: the next write there waits for the device first. */
    private boolean stagingBusy;
    /** True while rows queued back by {@link #queueRows} may not have arrived. */
    private boolean rowsQueued;
    /** Rows bound by the last {@link #bind}, and one past the largest position among them. */
    private int boundRows, boundEnd;
    /** The decoding step as a CUDA graph (null until captured); the rotary tables it was captured with. */
    private CUgraphExec_st stepGraph;
    private int ropeVersion, stepGraphRope;
    /** Whether the decoding step replays a graph; off by configuration or after a capture failed (then direct launches). */
    private boolean graphs;
    /** True while a decoding step queues its launches: they take arguments that hold for every step (a graph may capture them). */
    private boolean stepInvariant;

    CudaForward(ModelConfig c, CudaDevice device, KernelLaunch launch, DeviceWeights weights, int maxBatch, boolean needsLogits, KvDtype kvDtype,
                boolean graphs) {
        if (c.headDim() > Kernel.MAX_HEAD_DIM) {
            throw new IllegalArgumentException("head_dim " + c.headDim() + " exceeds the attention kernel's limit of " + Kernel.MAX_HEAD_DIM);
        }
        this.device = device;
        this.launch = launch;
        this.dim = c.hiddenSize();
        this.qDim = c.qDim();
        this.kvDim = c.kvDim();
        this.ffDim = c.intermediateSize();
        this.heads = c.numHeads();
        this.kvHeads = c.numKvHeads();
        this.headDim = c.headDim();
        this.vocab = c.vocabSize();
        this.maxBatch = maxBatch;
        this.eps = c.rmsNormEps();
        this.attnScale = (float) (1.0 / Math.sqrt(headDim));
        this.rope = RopeFrequencies.of(c);
        this.maxPositions = c.maxPositions();
        this.kvDtype = kvDtype;
        this.graphs = graphs;
        this.sms = Math.max(1, device.properties().multiprocessors());
        int group = heads / kvHeads;
        this.headsPerBlock = Math.min(group, Math.min(Kernel.ATTENTION_MAX_HEADS, Kernel.ATTENTION_MAX_DIMS / headDim));
        this.headChunks = ceilDiv(group, headsPerBlock);
        tableBytes = (long) maxBatch * Kernel.ROW_SLOT_BYTES;
        headerBytes = tableBytes + ((long) maxBatch * Integer.BYTES + 15) / 16 * 16;  // the rows stay 16-byte aligned
        io = device.allocate(headerBytes + (long) maxBatch * dim * Float.BYTES);
        stepParams = tableBytes + Integer.BYTES;
        choice = device.allocate(8);
        xb = floats(maxBatch * Math.max(dim, qDim));
        q = floats(maxBatch * qDim);
        k = floats(maxBatch * kvDim);
        v = floats(maxBatch * kvDim);
        att = floats(maxBatch * qDim);
        hb = floats(maxBatch * ffDim);
        hb2 = floats(maxBatch * ffDim);
        long slots = 0;
        for (int n = 1; n <= maxBatch; n++) slots = Math.max(slots, (long) n * splits(n, maxPositions));
        partialFloats = slots * heads * (headDim + 2L);
        partial = floats(partialFloats);
        int ticketCount = maxBatch * kvHeads * headChunks;
        tickets = device.allocate((long) ticketCount * Integer.BYTES);
        check(cuMemsetD32(tickets.address(), 0, ticketCount), "cuMemsetD32");  // the attention merge's counters start at 0
        ioStage = new PinnedBuffer(headerBytes + (long) maxBatch * dim * Float.BYTES);
        ioStageRows = ioStage.pointer(headerBytes);
        choiceStage = new PinnedBuffer(8);
        drafts = needsLogits ? device.allocate(8L * maxBatch) : null;
        draftsStage = needsLogits ? new PinnedBuffer(8L * maxBatch) : null;
        logits = needsLogits ? floats(maxBatch * vocab) : null;
        logitsStage = needsLogits ? new PinnedBuffer((long) maxBatch * vocab * Float.BYTES) : null;
    }

    int maxBatch() {
        return maxBatch;
    }

    /** Binds the rows of the next {@link #layer} calls to the segments' caches and positions (uploaded with the rows). */
    void bind(LayerStackExecutor.Segments<DeviceKvCache> segments) {
        awaitStaging();
        int row = 0, end = 0;
        for (int i = 0; i < segments.count(); i++) {
            DeviceKvCache cache = segments.cache(i);
            for (int r = 0; r < segments.rows(i); r++, row++) ioStage.putRowSlot(row, cache.address(), cache.capacity(), segments.start(i) + r);
            end = Math.max(end, segments.start(i) + segments.rows(i));
        }
        bound(row, end);
    }

    /** Binds rows 0..n-1 to positions [startPos, startPos + n) of one cache. */
    void bind(DeviceKvCache cache, int startPos, int n) {
        awaitStaging();
        for (int r = 0; r < n; r++) ioStage.putRowSlot(r, cache.address(), cache.capacity(), startPos + r);
        bound(n, startPos + n);
    }

    private void bound(int rows, int end) {
        boundRows = rows;
        boundEnd = end;
        reserveRope(end);
    }

    /** Copies rows [row0, row0 + n) of {@code hidden}, with the bound rows' table, into the device rows 0..n-1: one copy. */
    void upload(float[] hidden, int row0, int n) {
        awaitStaging();
        ioStage.putFloats(headerBytes, hidden, row0 * dim, n * dim);
        check(cuMemcpyHtoDAsync(io.address(), ioStage.pointer(), headerBytes + (long) n * dim * Float.BYTES, device.stream()), "cuMemcpyHtoDAsync");
        stagingBusy = true;
    }

    /**
     * Waits for the device when a queued copy may still read the staging buffers (a transformer
     * head uploads chunk after chunk without a download in between); after a download there is
     * nothing to wait for.
     */
    private void awaitStaging() {
        if (!stagingBusy) return;
        synchronize();
    }

    /** Waits for everything queued on the stream: the staging buffers are free and any rows queued back are there. */
    private void synchronize() {
        device.synchronize();
        stagingBusy = false;
        rowsQueued = false;
    }

    /** Copies the device rows 0..n-1 back into rows [row0, row0 + n) of {@code hidden}; waits for the device. */
    void download(float[] hidden, int row0, int n) {
        queueRows(n);
        takeRows(hidden, row0, n);
    }

    /**
     * Queues the copy of device rows 0..n-1 into the staging buffer without waiting (later launches
     * may change the device rows: the copy is ordered before them); {@link #takeRows} reads them.
     */
    void queueRows(int n) {
        check(cuMemcpyDtoHAsync(ioStageRows, x(), (long) n * dim * Float.BYTES, device.stream()), "cuMemcpyDtoHAsync");
        stagingBusy = true;
        rowsQueued = true;
    }

    /** The rows {@link #queueRows} queued, into rows [row0, row0 + n) of {@code hidden}; waits for the device unless it has since. */
    void takeRows(float[] hidden, int row0, int n) {
        if (rowsQueued) synchronize();
        ioStage.getFloats(headerBytes, hidden, row0 * dim, n * dim);
    }

    /** Embedding rows for {@code n} (validated) token ids into the device rows 0..n-1. */
    void embed(DeviceMatrix table, int[] ids, int off, int n) {
        awaitStaging();
        for (int i = 0; i < n; i++) ioStage.putInt(tableBytes + (long) i * Integer.BYTES, ids[off + i]);
        uploadHeader();
        launchEmbed(table, n);
    }

    /**
     * A decoding step for the one bound row, on the device: embeds {@code token} (sent with the
     * row's table entry in one small copy), runs {@code layers}, the final norm and LM head, and
     * choose_token (argmax at temperature 0, else a draw at {@code uniform}); one 8-byte copy back
     * and one synchronization. Returns the token; its logit is
     * {@link #chosenLogit()} (NaN when a logit was NaN or +inf).
     */
    int step(DeviceMatrix embedding, DeviceLayer[] layers, DeviceBuffer norm, DeviceMatrix head, int token, float temperature, double uniform) {
        if (boundRows != 1) throw new IllegalStateException("a decoding step computes one bound row, " + boundRows + " bound");
        ioStage.putInt(tableBytes, token);
        // A step has one token: the next two id slots of the header (always there: the ids are padded
        // to 16 bytes) carry choose_token's temperature (0: greedy) and uniform number. The uniform
        // is rounded down to a float below 1 (a double just under 1 would round up to 1.0f).
        ioStage.putInt(stepParams, Float.floatToRawIntBits(temperature));
        ioStage.putInt(stepParams + Float.BYTES, Float.floatToRawIntBits(Math.min((float) uniform, Math.nextDown(1f))));
        boolean replay = graphs && (stepGraph != null && stepGraphRope == ropeVersion || captureStep(embedding, layers, norm, head));
        if (replay) {
            check(cuGraphLaunch(stepGraph, device.stream()), "cuGraphLaunch");
        } else {
            stepLaunches(embedding, layers, norm, head);
        }
        stagingBusy = true;
        synchronize();
        return choiceStage.getInt(0);
    }

    /** What a decoding step queues: the header copy, embedding, layers, LM head, the token's choice, the 8-byte copy back. */
    private void stepLaunches(DeviceMatrix embedding, DeviceLayer[] layers, DeviceBuffer norm, DeviceMatrix head) {
        stepInvariant = true;
        try {
            uploadHeader();
            launchEmbed(embedding, 1);
            for (int l = 0; l < layers.length; l++) layer(layers[l], l, 1);
            logits(norm, head, 0, 1);
            launch.of(Kernel.CHOOSE_TOKEN).ptr(choice.address()).ptr(choice.address() + Integer.BYTES).ptr(logits).i(head.rows()).ptr(io.address() + stepParams)
                    .run(1, 1, 256);
            check(cuMemcpyDtoHAsync(choiceStage.pointer(), choice.address(), 8, device.stream()), "cuMemcpyDtoHAsync");
        } finally {
            stepInvariant = false;
        }
    }

    /**
     * Captures the decoding step as a graph that every later step replays, greedy or sampled: its
     * launches read the token, its sampling parameters, positions and cache addresses from the
     * header copied in at the start, and attention
     * uses the split count of the longest context, so no argument changes from step to step. Only
     * a regrowth of the rotary tables (new addresses) makes a new capture. On any failure the step
     * falls back to direct launches for good, with one warning.
     */
    private boolean captureStep(DeviceMatrix embedding, DeviceLayer[] layers, DeviceBuffer norm, DeviceMatrix head) {
        if (stepGraph != null) {
            check(cuGraphExecDestroy(stepGraph), "cuGraphExecDestroy");
            stepGraph = null;
        }
        int r = cuStreamBeginCapture(device.stream(), CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
        if (r != 0) return graphsUnavailable("cuStreamBeginCapture", r);
        CUgraph_st graph = new CUgraph_st();
        try {
            stepLaunches(embedding, layers, norm, head);
        } catch (CudaException e) {
            cuStreamEndCapture(device.stream(), graph);
            if (!graph.isNull()) cuGraphDestroy(graph);
            return graphsUnavailable("capturing a launch: " + e.getMessage(), 0);
        }
        r = cuStreamEndCapture(device.stream(), graph);
        if (r != 0) return graphsUnavailable("cuStreamEndCapture", r);
        CUgraphExec_st exec = new CUgraphExec_st();
        r = cuGraphInstantiate(exec, graph, 0);
        cuGraphDestroy(graph);
        if (r != 0) return graphsUnavailable("cuGraphInstantiate", r);
        stepGraph = exec;
        stepGraphRope = ropeVersion;
        return true;
    }

    private boolean graphsUnavailable(String call, int result) {
        graphs = false;
        log.warn("CUDA graphs unavailable ({}{}): decoding steps use direct launches from now on", call, result == 0 ? "" : ": " + DriverCall.errorName(result));
        return false;
    }

    /** Whether decoding steps replay a captured graph (false before the first step, when configured off, or after a failed capture). */
    boolean replaysGraphs() {
        return graphs && stepGraph != null;
    }

    /** The logit of the token the last decoding step chose (NaN: the row held a NaN or +inf). */
    float chosenLogit() {
        return Float.intBitsToFloat(choiceStage.getInt(Integer.BYTES));
    }

    /** The row table and token ids, without hidden rows (after a {@link #bind}: the rows already on the device are bound anew). */
    void uploadHeader() {
        check(cuMemcpyHtoDAsync(io.address(), ioStage.pointer(), headerBytes, device.stream()), "cuMemcpyHtoDAsync");
        stagingBusy = true;
    }

    private void launchEmbed(DeviceMatrix table, int n) {
        int block = threads(dim, 256);
        launch.of(Kernel.embed(table.dtype())).ptr(x()).ptr(table.address()).ptr(io.address() + tableBytes).i(dim).run(ceilDiv(dim, block), n, block);
    }

    /**
     * Layer {@code layer} (of the bound caches) for the n bound device rows: appends their keys and
     * values to the caches, which must have room.
     */
    void layer(DeviceLayer w, int layer, int n) {
        if (n != boundRows) throw new IllegalStateException(n + " rows computed but " + boundRows + " bound");
        if (n <= Kernel.GEMV_MAX_TOKENS && w.qNorm() == null) {
            qkv(w, layer, n);
            attention(layer, n);
            gemv(w.wo(), att.address(), 0, n, x(), dim, true);
            gateUp(w, n);
            gemv(w.down(), hb.address(), 0, n, x(), dim, true);
            return;
        }
        rmsnorm(xb.address(), x(), w.attnNorm(), n);
        matmul(w.wq(), xb, n, q, qDim);
        matmul(w.wk(), xb, n, k, kvDim);
        matmul(w.wv(), xb, n, v, kvDim);
        if (w.qBias() != null) {
            addBias(q, w.qBias(), qDim, n);
            addBias(k, w.kBias(), kvDim, n);
            addBias(v, w.vBias(), kvDim, n);
        }
        if (w.qNorm() != null) {
            headNorm(q, w.qNorm(), n * heads);
            headNorm(k, w.kNorm(), n * kvHeads);
        }
        launch.of(Kernel.ROPE_KV_APPEND).ptr(q).ptr(k).ptr(v).ptr(ropeCos).ptr(ropeSin).ptr(io.address()).i(layer).i(heads).i(kvHeads).i(headDim)
                .i(kvBf16()).run(n, 1, threads((heads + 2 * kvHeads) * headDim / 2, 256));
        attention(layer, n);
        matmulAdd(w.wo(), att, n, x(), dim);
        rmsnorm(xb.address(), x(), w.ffnNorm(), n);
        matmul(w.gate(), xb, n, hb, ffDim);
        matmul(w.up(), xb, n, hb2, ffDim);
        swiglu(hb, hb2, n * ffDim);
        matmulAdd(w.down(), hb, n, x(), dim);
    }

    /** RMSNorm with {@code norm} then {@code head} on device rows [row0, row0 + n): logits rows 0..n-1. */
    void logits(DeviceBuffer norm, DeviceMatrix head, int row0, int n) {
        long rows = x() + (long) row0 * dim * Float.BYTES;
        if (n <= Kernel.GEMV_MAX_TOKENS) {
            gemv(head, rows, norm.address(), n, logits.address(), head.rows(), false);
        } else {
            rmsnorm(xb.address(), rows, norm, n);
            launchMatmul(head, xb.address(), n, logits.address(), head.rows(), false);
        }
    }

    /** Copies logits rows 0..n-1 into {@code out} from row {@code outRow} on; waits for the device. */
    void downloadLogits(float[] out, int outRow, int n) {
        downloadLogits(out, outRow, n, vocab);
    }

    /**
     * Copies logits rows 0..n-1 of {@code width} each (a reduced-vocabulary head's are narrower than
     * the vocabulary, and lie packed) into {@code out} from row {@code outRow} on; waits for the device.
     */
    void downloadLogits(float[] out, int outRow, int n, int width) {
        long bytes = (long) n * width * Float.BYTES;
        check(cuMemcpyDtoHAsync(logitsStage.pointer(), logits.address(), bytes, device.stream()), "cuMemcpyDtoHAsync");
        synchronize();
        logitsStage.getFloats(out, outRow * width, n * width);
    }

    /**
     * The argmax of each of logits rows 0..n-1 (ties to the lower id) into tokens[outRow ..]: one
     * launch and one copy of 8·n bytes back (the ids and their logits); waits for the device. A row
     * holding a NaN or +∞ anywhere fails as broken weights, as the device step does.
     */
    void argmaxLogits(int n, int[] tokens, int outRow) {
        long ids = drafts.address(), best = ids + (long) n * Integer.BYTES;
        launch.of(Kernel.ARGMAX).ptr(ids).ptr(best).ptr(logits.address()).i(vocab).run(n, 1, 256);
        check(cuMemcpyDtoHAsync(draftsStage.pointer(), ids, 8L * n, device.stream()), "cuMemcpyDtoHAsync");
        synchronize();
        for (int t = 0; t < n; t++) {
            int token = draftsStage.getInt((long) t * Integer.BYTES);
            if (Float.isNaN(Float.intBitsToFloat(draftsStage.getInt((long) (n + t) * Integer.BYTES)))) {
                throw new io.ppsd.runtime.decode.Sampler.NonFiniteLogitsException("the exit head produced a non-finite logit (NaN or +inf in the row; token "
                        + token + "): its weights or the model's are broken (NaN or infinite values)");
            }
            tokens[outRow + t] = token;
        }
    }

    // The steps of a layer: each names what it computes; the launch geometry lives only here.

    /** The device rows' hidden states (after the row table and token ids in {@code io}). */
    private long x() {
        return io.address() + headerBytes;
    }

    private int kvBf16() {
        return kvDtype == KvDtype.BF16 ? 1 : 0;
    }

    /** q = rope(Wq · y) and the cache rows rope(Wk · y), Wv · y for y = norm(x): one launch over rotation pairs. */
    private void qkv(DeviceLayer w, int layer, int n) {
        int units = (qDim + 2 * kvDim) / 2;
        launch.of(Kernel.qkv(w.wq().dtype())).ptr(q).ptr(w.wq().address()).ptr(w.wk().address()).ptr(w.wv().address()).ptr(x())
                .ptr(w.attnNorm()).f(eps).ptr(address(w.qBias())).ptr(address(w.kBias())).ptr(address(w.vBias())).ptr(ropeCos).ptr(ropeSin)
                .ptr(io.address()).i(layer).i(dim).i(heads).i(kvHeads).i(headDim).i(n).i(kvBf16())
                .run(gemvGrid(units), 1, Kernel.GEMV_ROWS_PER_BLOCK * 32);
    }

    /** hb = silu(Wgate · y) * (Wup · y) for y = norm(x): one launch. */
    private void gateUp(DeviceLayer w, int n) {
        launch.of(Kernel.gateUp(w.gate().dtype())).ptr(hb).ptr(w.gate().address()).ptr(w.up().address()).ptr(x()).ptr(w.ffnNorm()).f(eps)
                .i(ffDim).i(dim).i(n).run(gemvGrid(ffDim), 1, Kernel.GEMV_ROWS_PER_BLOCK * 32);
    }

    /** att = softmax(q·K/√d)·V over each bound row's positions [0, pos], causal; split over positions. */
    private void attention(int layer, int n) {
        // In a decoding step (maybe a captured graph) the split count must not depend on the context:
        // the most any step uses; the same with or without the graph, so both give the same numbers.
        int splits = stepInvariant ? splits(n, maxPositions) : splits(n, boundEnd);
        launch.of(Kernel.ATTENTION).ptr(att).ptr(q).ptr(io.address()).ptr(partial).ptr(tickets).i(layer).i(heads).i(kvHeads).i(headDim)
                .i(headsPerBlock).i(splits).f(attnScale).i(kvBf16())
                .run(kvHeads * headChunks * splits, n, Kernel.ATTENTION_THREADS);
    }

    /**
     * How many position splits attention uses for n rows reaching position end - 1: enough blocks
     * for about two per multiprocessor, at least one 32-position tile per split.
     */
    private int splits(int n, int end) {
        int blocks = kvHeads * headChunks * n;
        return Math.max(1, Math.min(ceilDiv(2 * sms, blocks), ceilDiv(end, Kernel.ATTENTION_TILE)));
    }

    /** A grid for a GEMV-family kernel over {@code units} warps' work: whole waves, at most two blocks per multiprocessor. */
    private int gemvGrid(int units) {
        return Math.max(1, Math.min(ceilDiv(units, Kernel.GEMV_ROWS_PER_BLOCK), 2 * sms));
    }

    /** out[t] = rmsnorm(in[t]) · weight for n rows. */
    private void rmsnorm(long out, long in, DeviceBuffer weight, int n) {
        launch.of(Kernel.RMSNORM).ptr(out).ptr(in).ptr(weight).i(dim).f(eps).run(n, 1, threads(dim, 256));
    }

    /** out[t, :] = W · in[t, :] for n rows. */
    private void matmul(DeviceMatrix w, DeviceBuffer in, int n, DeviceBuffer out, int outStride) {
        launchMatmul(w, in.address(), n, out.address(), outStride, false);
    }

    /** out[t, :] += W · in[t, :] for n rows: the residual connection, fused into the projection. */
    private void matmulAdd(DeviceMatrix w, DeviceBuffer in, int n, long out, int outStride) {
        launchMatmul(w, in.address(), n, out, outStride, true);
    }

    /** x[t, :] += bias for n rows of {@code width}. */
    private void addBias(DeviceBuffer x, DeviceBuffer bias, int width, int n) {
        int count = n * width;
        launch.of(Kernel.ADD_BIAS).ptr(x).ptr(bias).i(width).i(count).run(ceilDiv(count, 256), 1, 256);
    }

    /** Qwen3's RMSNorm over each head's dimensions of q or k, in place: {@code heads} rows of headDim. */
    private void headNorm(DeviceBuffer x, DeviceBuffer weight, int heads) {
        launch.of(Kernel.RMSNORM).ptr(x).ptr(x).ptr(weight).i(headDim).f(eps).run(heads, 1, threads(headDim, 256));
    }

    /** Makes the device's rotary tables hold positions [0, positions), computed on the host as the CPU backend does. */
    private void reserveRope(int positions) {
        if (positions <= ropePositions) return;
        int grown = RopeFrequencies.grownCapacity(ropePositions, positions, maxPositions);
        float[] cos = new float[grown * rope.half()], sin = new float[grown * rope.half()];
        rope.fill(0, grown, cos, sin);
        synchronize(); // queued kernels may still read the old tables
        if (ropeCos != null) {
            ropeCos.close();
            ropeSin.close();
        }
        ropeCos = upload(cos);
        ropeSin = upload(sin);
        ropePositions = grown;
        ropeVersion++;
    }

    private DeviceBuffer upload(float[] values) {
        DeviceBuffer b = device.allocate((long) values.length * Float.BYTES);
        try (var host = new org.bytedeco.javacpp.FloatPointer(values)) {
            check(org.bytedeco.cuda.global.cudart.cuMemcpyHtoD(b.address(), host, b.bytes()), "cuMemcpyHtoD");
        }
        return b;
    }

    /** a = silu(a) * b, elementwise over {@code count} values. */
    private void swiglu(DeviceBuffer a, DeviceBuffer b, int count) {
        launch.of(Kernel.SWIGLU).ptr(a).ptr(b).i(count).run(ceilDiv(count, 256), 1, 256);
    }

    /** out[t, r] (+)= W[r, :] · y[t, :], y = in, or RMSNorm(in) · norm when {@code norm} is not 0: the GEMV for at most GEMV_MAX_TOKENS rows. */
    private void gemv(DeviceMatrix w, long in, long norm, int n, long out, int outStride, boolean accumulate) {
        launch.of(Kernel.gemv(w.dtype())).ptr(out).ptr(w.address()).ptr(in).ptr(norm).f(eps).i(w.rows()).i(w.cols()).i(n).i(outStride)
                .i(accumulate ? 1 : 0).run(gemvGrid(w.rows()), 1, Kernel.GEMV_ROWS_PER_BLOCK * 32);
    }

    /**
     * out[t, r] (+)= W[r, :] · in[t, :]: GEMV for the few tokens of decode and verification; beyond,
     * tensor cores for BF16 weights whose dimensions are multiples of 16 (activations split into
     * three BF16 parts: F32-accurate), else the tiled SIMT GEMM.
     */
    private void launchMatmul(DeviceMatrix w, long in, int n, long out, int outStride, boolean accumulate) {
        if (n <= Kernel.GEMV_MAX_TOKENS) {
            gemv(w, in, 0, n, out, outStride, accumulate);
        } else if (w.dtype() == DType.BF16 && w.rows() % Kernel.TC_TILE == 0 && w.cols() % Kernel.TC_TILE == 0) {
            launch.of(Kernel.GEMM_TC_BF16).ptr(out).ptr(w.address()).ptr(in).i(w.rows()).i(w.cols()).i(n).i(outStride).i(accumulate ? 1 : 0)
                    .run(ceilDiv(w.rows(), Kernel.TC_TILE * Kernel.TC_WARPS), ceilDiv(n, Kernel.TC_TILE), Kernel.TC_WARPS * 32);
        } else {
            launch.of(Kernel.gemm(w.dtype())).ptr(out).ptr(w.address()).ptr(in).i(w.rows()).i(w.cols()).i(n).i(outStride).i(accumulate ? 1 : 0)
                    .run(ceilDiv(w.rows(), Kernel.GEMM_TILE_ROWS), ceilDiv(n, Kernel.GEMM_TILE_TOKENS), 256);
        }
    }

    private static long address(DeviceBuffer b) {
        return b == null ? 0 : b.address();
    }

    private DeviceBuffer floats(long count) {
        return device.allocate(count * Float.BYTES);
    }

    /** A block size for {@code work} items: a whole number of warps, at most {@code max}. */
    private static int threads(int work, int max) {
        return Math.min(max, Math.max(32, (work + 31) / 32 * 32));
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    @Override
    public void close() {
        if (stepGraph != null) cuGraphExecDestroy(stepGraph);
        for (DeviceBuffer b : new DeviceBuffer[] {io, choice, xb, q, k, v, att, hb, hb2, logits, partial, tickets, ropeCos, ropeSin}) if (b != null) b.close();
        ioStage.close();
        choiceStage.close();
        if (logitsStage != null) logitsStage.close();
        if (drafts != null) drafts.close();
        if (draftsStage != null) draftsStage.close();
    }
}
