package io.ppsd.cuda;

import static io.ppsd.cuda.DriverCall.check;
import static org.bytedeco.cuda.global.cudart.cuMemcpyDtoHAsync;
import static org.bytedeco.cuda.global.cudart.cuMemcpyHtoDAsync;

import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.RopeFrequencies;
import io.ppsd.runtime.stage.LayerStackExecutor;

/**
 * The LLaMA decoder computation as a sequence of kernel launches on one device, for up to
 * {@code maxBatch} positions at once (the same steps as the CPU backend's CpuForward):
 * <pre>
 *   h   = x + Wo · attention(rope(Wq · norm(x)), rope(Wk · norm(x)), Wv · norm(x))
 *   out = h + Wdown · (silu(Wgate · norm(h)) * (Wup · norm(h)))
 * </pre>
 * The hidden state of the rows being computed lives in the device buffer {@code x}; the residual
 * adds are fused into the output projections ({@code matmulAdd}). Scratch buffers (device and pinned host) are
 * allocated once; a token allocates nothing.
 */
final class CudaForward implements AutoCloseable {
    private final CudaDevice device;
    private final KernelLaunch launch;
    private final int dim, qDim, kvDim, ffDim, heads, kvHeads, headDim, vocab, maxBatch;
    private final float eps, attnScale;
    private final RopeFrequencies rope;
    private final int maxPositions;
    /** The rotary cos/sin tables on the device, for the positions used so far (grown by doubling). */
    private DeviceBuffer ropeCos, ropeSin;
    private int ropePositions;
    private final DeviceBuffer x, xb, q, k, v, att, hb, hb2, logits, tokens;
    private final PinnedBuffer hiddenStage, logitsStage, tokenStage;
    /** The segments of the layer being computed (reused: a call allocates nothing). */
    private final DeviceKvCache[] segmentCache, oneSegment = new DeviceKvCache[1];
    private final int[] segmentStart, segmentRows, oneStart = new int[1], oneRows = new int[1];

    CudaForward(ModelConfig c, CudaDevice device, KernelLaunch launch, DeviceWeights weights, int maxBatch, boolean needsLogits) {
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
        this.segmentCache = new DeviceKvCache[maxBatch];
        this.segmentStart = new int[maxBatch];
        this.segmentRows = new int[maxBatch];
        this.maxPositions = c.maxPositions();
        x = floats(maxBatch * dim);
        xb = floats(maxBatch * Math.max(dim, qDim));
        q = floats(maxBatch * qDim);
        k = floats(maxBatch * kvDim);
        v = floats(maxBatch * kvDim);
        att = floats(maxBatch * qDim);
        hb = floats(maxBatch * ffDim);
        hb2 = floats(maxBatch * ffDim);
        tokens = device.allocate((long) maxBatch * Integer.BYTES);
        hiddenStage = new PinnedBuffer((long) maxBatch * dim * Float.BYTES);
        tokenStage = new PinnedBuffer((long) maxBatch * Integer.BYTES);
        logits = needsLogits ? floats(maxBatch * vocab) : null;
        logitsStage = needsLogits ? new PinnedBuffer((long) maxBatch * vocab * Float.BYTES) : null;
    }

    int maxBatch() {
        return maxBatch;
    }

    /** Copies rows [row0, row0 + n) of {@code hidden} into the device rows 0..n-1. */
    void upload(float[] hidden, int row0, int n) {
        // The previous upload's asynchronous copy may still be reading the staging buffer (a
        // transformer head uploads chunk after chunk without a download in between).
        device.synchronize();
        hiddenStage.putFloats(hidden, row0 * dim, n * dim);
        check(cuMemcpyHtoDAsync(x.address(), hiddenStage.pointer(), (long) n * dim * Float.BYTES, device.stream()), "cuMemcpyHtoDAsync");
    }

    /** Copies the device rows 0..n-1 back into rows [row0, row0 + n) of {@code hidden}; waits for the device. */
    void download(float[] hidden, int row0, int n) {
        check(cuMemcpyDtoHAsync(hiddenStage.pointer(), x.address(), (long) n * dim * Float.BYTES, device.stream()), "cuMemcpyDtoHAsync");
        device.synchronize();
        hiddenStage.getFloats(hidden, row0 * dim, n * dim);
    }

    /** Embedding rows for {@code n} (validated) token ids into the device rows 0..n-1. */
    void embed(DeviceMatrix table, int[] ids, int off, int n) {
        device.synchronize();  // as in upload: the staging buffer may still be read by a queued copy
        tokenStage.putInts(ids, off, n);
        check(cuMemcpyHtoDAsync(tokens.address(), tokenStage.pointer(), (long) n * Integer.BYTES, device.stream()), "cuMemcpyHtoDAsync");
        int block = threads(dim, 256);
        launch.of(Kernel.embed(table.dtype())).ptr(x).ptr(table.address()).ptr(tokens).i(dim).run(ceilDiv(dim, block), n, block);
    }

    /**
     * One decoder layer for the n device rows, positions [startPos, startPos + n) of one sequence;
     * appends their keys and values to layer {@code layer} of {@code cache}, which must have room.
     */
    void layer(DeviceLayer w, DeviceKvCache cache, int layer, int startPos, int n) {
        oneSegment[0] = cache;
        oneStart[0] = startPos;
        oneRows[0] = n;
        layer(w, oneSegment, oneStart, oneRows, 1, layer);
    }

    /** One decoder layer for the rows of several sequences' segments: weights read once, each segment's attention over its own cache. */
    void layer(DeviceLayer w, LayerStackExecutor.Segments<DeviceKvCache> segments, int layer) {
        int count = segments.count();
        for (int i = 0; i < count; i++) {
            segmentCache[i] = segments.cache(i);
            segmentStart[i] = segments.start(i);
            segmentRows[i] = segments.rows(i);
        }
        layer(w, segmentCache, segmentStart, segmentRows, count, layer);
    }

    /**
     * The layer, step for step what CpuForward.layer computes: norms, projections and the MLP over
     * all n rows, position-dependent steps (rope, KV append, attention) per segment.
     */
    private void layer(DeviceLayer w, DeviceKvCache[] caches, int[] starts, int[] rows, int count, int layer) {
        int n = 0, end = 0;
        for (int i = 0; i < count; i++) {
            n += rows[i];
            end = Math.max(end, starts[i] + rows[i]);
        }
        reserveRope(end);
        rmsnorm(xb, x, w.attnNorm(), n);
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
        for (int i = 0, row = 0; i < count; row += rows[i], i++) {
            rope(q, row, heads, starts[i], rows[i]);
            rope(k, row, kvHeads, starts[i], rows[i]);
            appendKv(caches[i], layer, row, starts[i], rows[i]);
            attention(caches[i], layer, row, starts[i], rows[i]);
        }
        java.util.Arrays.fill(caches, 0, count, null);

        matmulAdd(w.wo(), att, n, x, dim);
        rmsnorm(xb, x, w.ffnNorm(), n);
        matmul(w.gate(), xb, n, hb, ffDim);
        matmul(w.up(), xb, n, hb2, ffDim);
        swiglu(hb, hb2, n * ffDim);
        matmulAdd(w.down(), hb, n, x, dim);
    }

    /** RMSNorm with {@code norm} then {@code head} on device rows [row0, row0 + n): logits rows 0..n-1. */
    void logits(DeviceBuffer norm, DeviceMatrix head, int row0, int n) {
        long rows = x.at((long) row0 * dim * Float.BYTES);
        launchRmsnorm(xb.address(), rows, norm, n);
        launchMatmul(head, xb.address(), n, logits.address(), head.rows(), false);
    }

    /** Copies logits rows 0..n-1 into {@code out} from row {@code outRow} on; waits for the device. */
    void downloadLogits(float[] out, int outRow, int n) {
        long bytes = (long) n * vocab * Float.BYTES;
        check(cuMemcpyDtoHAsync(logitsStage.pointer(), logits.address(), bytes, device.stream()), "cuMemcpyDtoHAsync");
        device.synchronize();
        logitsStage.getFloats(out, outRow * vocab, n * vocab);
    }

    /** Copies the first {@code width} logits of row 0 (a reduced-vocabulary head's) into {@code out}; waits for the device. */
    void downloadLogitsRow(float[] out, int width) {
        check(cuMemcpyDtoHAsync(logitsStage.pointer(), logits.address(), (long) width * Float.BYTES, device.stream()), "cuMemcpyDtoHAsync");
        device.synchronize();
        logitsStage.getFloats(out, 0, width);
    }

    // The steps of a layer: each names what it computes; the launch geometry lives only here.

    /** out[t] = rmsnorm(in[t]) · weight for n rows. */
    private void rmsnorm(DeviceBuffer out, DeviceBuffer in, DeviceBuffer weight, int n) {
        launchRmsnorm(out.address(), in.address(), weight, n);
    }

    /** out[t, :] = W · in[t, :] for n rows. */
    private void matmul(DeviceMatrix w, DeviceBuffer in, int n, DeviceBuffer out, int outStride) {
        launchMatmul(w, in.address(), n, out.address(), outStride, false);
    }

    /** out[t, :] += W · in[t, :] for n rows: the residual connection, fused into the projection. */
    private void matmulAdd(DeviceMatrix w, DeviceBuffer in, int n, DeviceBuffer out, int outStride) {
        launchMatmul(w, in.address(), n, out.address(), outStride, true);
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
        device.synchronize(); // queued kernels may still read the old tables
        if (ropeCos != null) {
            ropeCos.close();
            ropeSin.close();
        }
        ropeCos = upload(cos);
        ropeSin = upload(sin);
        ropePositions = grown;
    }

    private DeviceBuffer upload(float[] values) {
        DeviceBuffer b = device.allocate((long) values.length * Float.BYTES);
        try (var host = new org.bytedeco.javacpp.FloatPointer(values)) {
            check(org.bytedeco.cuda.global.cudart.cuMemcpyHtoD(b.address(), host, b.bytes()), "cuMemcpyHtoD");
        }
        return b;
    }

    /** Rotary position embedding of {@code headCount} heads of n rows at positions [startPos, startPos + n). */
    private void rope(DeviceBuffer qk, int row0, int headCount, int startPos, int n) {
        launch.of(Kernel.ROPE).ptr(qk.at((long) row0 * headCount * headDim * Float.BYTES)).ptr(ropeCos).ptr(ropeSin).i(headCount).i(headDim).i(startPos)
                .run(n, 1, threads(headCount * headDim / 2, 256));
    }

    /** Writes the rows' keys and values into the cache at positions [startPos, startPos + n). */
    private void appendKv(DeviceKvCache cache, int layer, int row0, int startPos, int n) {
        long off = (long) row0 * kvDim * Float.BYTES;
        launch.of(Kernel.KV_APPEND).ptr(cache.keys(layer)).ptr(cache.values(layer)).ptr(k.at(off)).ptr(v.at(off)).i(startPos).i(n).i(kvDim)
                .run(ceilDiv(n * kvDim, 256), 1, 256);
    }

    /** att = softmax(q·K/√d)·V over each row's positions [0, pos], causal. */
    private void attention(DeviceKvCache cache, int layer, int row0, int startPos, int n) {
        long off = (long) row0 * qDim * Float.BYTES;
        launch.of(Kernel.ATTENTION).ptr(att.at(off)).ptr(q.at(off)).ptr(cache.keys(layer)).ptr(cache.values(layer)).i(startPos).i(heads).i(kvHeads)
                .i(headDim).f(attnScale).run(heads, n, Kernel.ATTENTION_THREADS);
    }

    /** a = silu(a) * b, elementwise over {@code count} values. */
    private void swiglu(DeviceBuffer a, DeviceBuffer b, int count) {
        launch.of(Kernel.SWIGLU).ptr(a).ptr(b).i(count).run(ceilDiv(count, 256), 1, 256);
    }

    private void launchRmsnorm(long out, long in, DeviceBuffer weight, int n) {
        launch.of(Kernel.RMSNORM).ptr(out).ptr(in).ptr(weight).i(dim).f(eps).run(n, 1, threads(dim, 256));
    }

    /** out[t, r] (+)= W[r, :] · in[t, :]: GEMV for the few tokens of decode and verification, tiled GEMM beyond. */
    private void launchMatmul(DeviceMatrix w, long in, int n, long out, int outStride, boolean accumulate) {
        if (n <= Kernel.GEMV_MAX_TOKENS) {
            launch.of(Kernel.gemv(w.dtype())).ptr(out).ptr(w.address()).ptr(in).i(w.rows()).i(w.cols()).i(n).i(outStride).i(accumulate ? 1 : 0)
                    .run(ceilDiv(w.rows(), Kernel.GEMV_ROWS_PER_BLOCK), 1, Kernel.GEMV_ROWS_PER_BLOCK * 32);
        } else {
            launch.of(Kernel.gemm(w.dtype())).ptr(out).ptr(w.address()).ptr(in).i(w.rows()).i(w.cols()).i(n).i(outStride).i(accumulate ? 1 : 0)
                    .run(ceilDiv(w.rows(), Kernel.GEMM_TILE_ROWS), ceilDiv(n, Kernel.GEMM_TILE_TOKENS), 256);
        }
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
        for (DeviceBuffer b : new DeviceBuffer[] {x, xb, q, k, v, att, hb, hb2, logits, tokens, ropeCos, ropeSin}) if (b != null) b.close();
        hiddenStage.close();
        tokenStage.close();
        if (logitsStage != null) logitsStage.close();
    }
}
