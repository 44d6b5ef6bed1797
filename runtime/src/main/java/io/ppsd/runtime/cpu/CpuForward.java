package io.ppsd.runtime.cpu;

import io.ppsd.runtime.model.DType;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.stage.LayerStackExecutor;

/**
 * The LLaMA decoder computation on CPU cores, for up to {@code maxBatch} positions at once:
 * <pre>
 *   h   = x + Wo · attention(rope(Wq · norm(x)), rope(Wk · norm(x)), Wv · norm(x))
 *   out = h + Wdown · (silu(Wgate · norm(h)) * (Wup · norm(h)))
 * </pre>
 * (Qwen2 adds biases to the three projections; Qwen3 normalizes each head of q and k before rope.)
 * Scratch buffers are allocated once; the parallel tasks are fields, so a token allocates nothing.
 * One instance serves one thread (a stage's), which may drive several cores through its
 * {@link CoreGroup}.
 */
final class CpuForward {
    private final int dim, qDim, kvDim, ffDim, heads, kvHeads, headDim, maxBatch;
    private final float eps;
    private final float attnScale;
    private final Rope rope;
    private final CoreGroup cores;
    /** Cached keys and values rounded to BF16 (a CUDA stage's default cache) rather than kept in F32. */
    private final boolean kvBf16;

    private final float[] xb, q, k, v, attOut, hb, hb2;
    /** Attention scores of one query, per worker; grown with the context actually used. */
    private final float[][] scores;

    // Arguments of the task running now; set just before each parallelFor.
    private Matrix mmW;
    private float[] mmX, mmOut;
    private int mmN, mmOutOff, mmStride;
    private final CoreGroup.RangeTask matmulTask =
            (worker, from, to) -> VectorKernels.matmulRows(mmW, mmX, mmN, mmOut, mmOutOff, mmStride, from, to);

    /** The rows of the layer being computed: each row's cache and position (several sequences may share a call). */
    private final KvCache[] rowCache;
    private final int[] rowPos;
    private int attLayer;
    private final CoreGroup.RangeTask attentionTask = this::attention;

    CpuForward(ModelConfig c, CoreGroup cores, int maxBatch, DType kvDtype) {
        if (kvDtype == DType.F16) throw new IllegalArgumentException("the CPU backend caches keys and values as F32 or rounded to BF16, not F16");
        this.kvBf16 = kvDtype == DType.BF16;
        this.dim = c.hiddenSize();
        this.qDim = c.qDim();
        this.kvDim = c.kvDim();
        this.ffDim = c.intermediateSize();
        this.heads = c.numHeads();
        this.kvHeads = c.numKvHeads();
        this.headDim = c.headDim();
        this.eps = c.rmsNormEps();
        this.attnScale = (float) (1.0 / Math.sqrt(headDim));
        this.maxBatch = maxBatch;
        this.rope = new Rope(c);
        this.cores = cores;
        xb = new float[maxBatch * Math.max(dim, qDim)];
        q = new float[maxBatch * qDim];
        k = new float[maxBatch * kvDim];
        v = new float[maxBatch * kvDim];
        attOut = new float[maxBatch * qDim];
        hb = new float[maxBatch * ffDim];
        hb2 = new float[maxBatch * ffDim];
        rowCache = new KvCache[maxBatch];
        rowPos = new int[maxBatch];
        scores = new float[cores.size()][];
        for (int w = 0; w < scores.length; w++) scores[w] = new float[Math.min(64, c.maxPositions())];
    }

    int maxBatch() {
        return maxBatch;
    }

    /**
     * One decoder layer for n ≤ maxBatch positions starting at {@code startPos} of one sequence, on
     * rows of {@code x} starting at row {@code row0}; writes the positions' keys and values into
     * layer {@code layer} of {@code cache}, which must have room for them.
     */
    void layer(LayerWeights w, KvCache cache, int layer, int startPos, int n, float[] x, int row0) {
        for (int t = 0; t < n; t++) {
            rowCache[t] = cache;
            rowPos[t] = startPos + t;
        }
        layer(w, layer, n, startPos + n, x, row0);
    }

    /** One decoder layer for the rows of several sequences' segments (each its own cache and positions), weights read once. */
    void layer(LayerWeights w, LayerStackExecutor.Segments<KvCache> segments, int layer, float[] x, int row0) {
        int t = 0, end = 0;
        for (int s = 0; s < segments.count(); s++) {
            for (int i = 0; i < segments.rows(s); i++, t++) {
                rowCache[t] = segments.cache(s);
                rowPos[t] = segments.start(s) + i;
            }
            end = Math.max(end, segments.start(s) + segments.rows(s));
        }
        layer(w, layer, t, end, x, row0);
    }

    /** The layer for the n rows bound in rowCache/rowPos; {@code end}: one past the largest position. */
    private void layer(LayerWeights w, int layer, int n, int end, float[] x, int row0) {
        int x0 = row0 * dim;
        for (int t = 0; t < n; t++) VectorKernels.rmsnorm(xb, t * dim, x, x0 + t * dim, w.attnNorm(), dim, eps);
        matmul(w.wq(), xb, n, q, qDim);
        matmul(w.wk(), xb, n, k, kvDim);
        matmul(w.wv(), xb, n, v, kvDim);
        if (w.qBias() != null) {
            for (int t = 0; t < n; t++) {
                VectorKernels.add(q, t * qDim, w.qBias(), 0, qDim);
                VectorKernels.add(k, t * kvDim, w.kBias(), 0, kvDim);
                VectorKernels.add(v, t * kvDim, w.vBias(), 0, kvDim);
            }
        }
        if (w.qNorm() != null) {
            // Qwen3: an RMSNorm over each head's dimensions of q and k, before the rotation.
            for (int h = 0; h < n * heads; h++) VectorKernels.rmsnorm(q, h * headDim, q, h * headDim, w.qNorm(), headDim, eps);
            for (int h = 0; h < n * kvHeads; h++) VectorKernels.rmsnorm(k, h * headDim, k, h * headDim, w.kNorm(), headDim, eps);
        }
        rope.reserve(end);
        if (scores[0].length < end) {
            for (int i = 0; i < scores.length; i++) scores[i] = new float[Math.min(rowCache[0].maxPositions(), Math.max(end, 2 * scores[i].length))];
        }
        for (int t = 0; t < n; t++) {
            int pos = rowPos[t];
            rope.rotate(q, t * qDim, heads, pos);
            rope.rotate(k, t * kvDim, kvHeads, pos);
            KvCache c = rowCache[t];
            if (kvBf16) {
                // As a device caching BF16 stores them (for comparing with such a device; accumulation stays F32).
                for (int d = 0; d < kvDim; d++) {
                    k[t * kvDim + d] = DType.roundToBf16(k[t * kvDim + d]);
                    v[t * kvDim + d] = DType.roundToBf16(v[t * kvDim + d]);
                }
            }
            System.arraycopy(k, t * kvDim, c.keyBlock(layer, pos), c.offset(pos), kvDim);
            System.arraycopy(v, t * kvDim, c.valueBlock(layer, pos), c.offset(pos), kvDim);
        }
        attLayer = layer;
        cores.parallelFor(n * heads, (long) n * heads * end * headDim * 2, attentionTask);

        matmul(w.wo(), attOut, n, xb, dim);
        VectorKernels.add(x, x0, xb, 0, n * dim);
        for (int t = 0; t < n; t++) VectorKernels.rmsnorm(xb, t * dim, x, x0 + t * dim, w.ffnNorm(), dim, eps);
        matmul(w.gate(), xb, n, hb, ffDim);
        matmul(w.up(), xb, n, hb2, ffDim);
        VectorKernels.swiglu(hb, hb2, 0, n * ffDim);
        matmul(w.down(), hb, n, xb, dim);
        VectorKernels.add(x, x0, xb, 0, n * dim);
        java.util.Arrays.fill(rowCache, 0, n, null); // hold no sequence's cache past the call
    }

    /** Final RMSNorm with {@code norm} then {@code head}: out is rows × head.rows(). */
    void logits(float[] norm, Matrix head, float[] hidden, int rows, float[] out) {
        logits(norm, head, hidden, 0, rows, out, 0);
    }

    /** The same for rows [row0, row0 + rows) of {@code hidden}, into rows [outRow, outRow + rows) of {@code out}. */
    void logits(float[] norm, Matrix head, float[] hidden, int row0, int rows, float[] out, int outRow) {
        for (int r0 = 0; r0 < rows; r0 += maxBatch) {
            int n = Math.min(maxBatch, rows - r0);
            for (int t = 0; t < n; t++) VectorKernels.rmsnorm(xb, t * dim, hidden, (row0 + r0 + t) * dim, norm, dim, eps);
            matmul(head, xb, n, out, (outRow + r0) * head.rows(), head.rows());
        }
    }

    private void matmul(Matrix w, float[] x, int n, float[] out, int outStride) {
        matmul(w, x, n, out, 0, outStride);
    }

    private void matmul(Matrix w, float[] x, int n, float[] out, int outOff, int outStride) {
        mmW = w;
        mmX = x;
        mmN = n;
        mmOut = out;
        mmOutOff = outOff;
        mmStride = outStride;
        cores.parallelFor(w.rows(), (long) w.rows() * w.cols() * n, matmulTask);
        mmX = mmOut = null;
    }

    /** Causal attention for (row, head) pairs [from, to): softmax(q·K/√d)·V over the row's positions [0, pos]. */
    private void attention(int worker, int from, int to) {
        float[] s = scores[worker];
        int group = heads / kvHeads;
        for (int i = from; i < to; i++) {
            int t = i / heads, h = i % heads;
            KvCache cache = rowCache[t];
            int pos = rowPos[t];
            int qOff = t * qDim + h * headDim;
            int kvOff = (h / group) * headDim;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j <= pos; j++) {
                float sc = VectorKernels.dot(q, qOff, cache.keyBlock(attLayer, j), cache.offset(j) + kvOff, headDim) * attnScale;
                s[j] = sc;
                if (sc > max) max = sc;
            }
            float sum = 0;
            for (int j = 0; j <= pos; j++) {
                float e = (float) Math.exp(s[j] - max);
                s[j] = e;
                sum += e;
            }
            float inv = 1f / sum;
            java.util.Arrays.fill(attOut, qOff, qOff + headDim, 0f);
            for (int j = 0; j <= pos; j++) {
                VectorKernels.axpy(s[j] * inv, cache.valueBlock(attLayer, j), cache.offset(j) + kvOff, attOut, qOff, headDim);
            }
        }
    }
}
