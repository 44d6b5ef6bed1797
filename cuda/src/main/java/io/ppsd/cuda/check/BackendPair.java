package io.ppsd.cuda.check;

import io.ppsd.cuda.CudaSettings;
import io.ppsd.cuda.CudaStageExecutor;
import io.ppsd.cuda.KernelSource;
import io.ppsd.cuda.KvDtype;
import io.ppsd.runtime.cpu.CoreGroup;
import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.model.DType;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;

/** The same stage on both backends, driven in lockstep; every result is compared. */
public final class BackendPair implements AutoCloseable {
    public final StageExecutor cpu;
    public final CudaStageExecutor cuda;
    public final Agreement agreement;
    public final int dim, vocab;
    /** The largest relative difference seen so far. */
    public double worst;

    /** F32 caches on both backends: the tight bound. */
    public BackendPair(ModelFiles files, StageSpec spec, int cudaBatch) {
        this(files, spec, cudaBatch, KvDtype.F32);
    }

    /** The CUDA stage caching {@code kv}; the CPU stage rounds its cache the same way, and the bound is {@link Agreement#forKv}. */
    public BackendPair(ModelFiles files, StageSpec spec, int cudaBatch, KvDtype kv) {
        this(files, spec, cudaBatch, kv, true);
    }

    /** {@code profile}: the CUDA stage times its calls on the device (an event synchronization each; off where synchronizations are counted). */
    public BackendPair(ModelFiles files, StageSpec spec, int cudaBatch, KvDtype kv, boolean profile) {
        cpu = new CpuStageExecutor(files, spec, new CoreGroup(1, "cpu"), true, CpuStageExecutor.DEFAULT_MAX_BATCH,
                kv == KvDtype.BF16 ? DType.BF16 : DType.F32, LoadProgress.NONE);
        cuda = new CudaStageExecutor(files, spec, new CudaSettings(0, cudaBatch, KernelSource.PTX, profile).withKvDtype(kv), LoadProgress.NONE);
        agreement = Agreement.forKv(kv);
        dim = files.config().hiddenSize();
        vocab = files.config().vocabSize();
    }

    public float[][] embed(int[] tokens, int off, int n) {
        float[][] h = {new float[n * dim], new float[n * dim]};
        cpu.embed(tokens, off, n, h[0]);
        cuda.embed(tokens, off, n, h[1]);
        return h;
    }

    /** Runs both, compares, and continues from the CPU's rows so that differences do not compound. */
    public void forward(long seq, int start, int n, float[][] hidden) {
        cpu.forward(seq, start, n, hidden[0]);
        cuda.forward(seq, start, n, hidden[1]);
        note(agreement.assertClose("hidden after forward(" + seq + ", " + start + ", " + n + ")", hidden[0], hidden[1], n * dim));
        System.arraycopy(hidden[0], 0, hidden[1], 0, n * dim);
    }

    public float[][] logits(float[][] hidden, int rows) {
        float[][] l = {new float[rows * vocab], new float[rows * vocab]};
        cpu.logits(hidden[0], rows, l[0]);
        cuda.logits(hidden[1], rows, l[1]);
        note(agreement.assertClose("logits of " + rows + " rows", l[0], l[1], rows * vocab));
        return l;
    }

    public float[][] draft(long seq, int start, int rows, float[][] hidden) {
        float[][] l = {new float[vocab], new float[vocab]};
        cpu.draft(seq, start, rows, hidden[0], l[0]);
        cuda.draft(seq, start, rows, hidden[1], l[1]);
        note(agreement.assertClose("draft logits at " + start + " (+" + rows + ")", l[0], l[1], vocab));
        return l;
    }

    public double maxDifference(float[][] values, int count) {
        double d = 0;
        for (int i = 0; i < count; i++) d = Math.max(d, Math.abs(values[0][i] - values[1][i]));
        return d;
    }

    public void truncate(long seq, int length) {
        cpu.truncate(seq, length);
        cuda.truncate(seq, length);
        if (cpu.length(seq) != cuda.length(seq)) {
            throw new AssertionError("after truncate(" + seq + ", " + length + "): CPU holds " + cpu.length(seq) + " positions, CUDA " + cuda.length(seq));
        }
    }

    public void release(long seq) {
        cpu.release(seq);
        cuda.release(seq);
    }

    private void note(double relative) {
        worst = Math.max(worst, relative);
    }

    @Override
    public void close() {
        cpu.close();
        cuda.close();
    }
}
