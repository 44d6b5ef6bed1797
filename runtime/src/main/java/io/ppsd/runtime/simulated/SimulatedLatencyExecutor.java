package io.ppsd.runtime.simulated;

import io.ppsd.runtime.heads.ExitHeadFile;
import io.ppsd.runtime.heads.ExitHeadKind;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;
import java.lang.foreign.Arena;

/**
 * A stage on a simulated device: every call is computed for real by the wrapped executor (so
 * outputs, KV caches and rollbacks stay exact) and then padded, measured from the call's start, to
 * the time the {@link DeviceProfile} gives for it. A pipeline of such stages, one thread each,
 * behaves like one of fast devices as long as the real computation stays below the simulated time
 * and the threads find a core when their pause ends; {@link #stats()} tells whether it did.
 *
 * <p>Calls that only move metadata on a GPU (truncate, release, length) and the embedding lookup
 * are not padded.
 */
public final class SimulatedLatencyExecutor implements StageExecutor {
    private final StageExecutor real;
    private final DeviceProfile profile;
    private final ExitHeadKind headKind;
    private final double headVocabularyShare; // the draft vocabulary over the model's (1: a full LM head)
    private final PaddingClock clock;
    private final int layers;
    private final Object statsLock = new Object();
    private PaddingStats stats = PaddingStats.NONE;

    public SimulatedLatencyExecutor(StageExecutor real, DeviceProfile profile, ExitHeadKind headKind, PrecisePause pause) {
        this(real, profile, headKind, PaddingClock.system(pause));
    }

    /** Measures and pads with {@code clock} (a test's clock; the others use the wall clock). */
    SimulatedLatencyExecutor(StageExecutor real, DeviceProfile profile, ExitHeadKind headKind, PaddingClock clock) {
        this(real, profile, headKind, 1, clock);
    }

    /** {@code headVocabularyShare}: the exit head's draft vocabulary over the model's (its projection is priced at that share). */
    SimulatedLatencyExecutor(StageExecutor real, DeviceProfile profile, ExitHeadKind headKind, double headVocabularyShare, PaddingClock clock) {
        if (real.spec().drafts() && headKind == null) throw new IllegalArgumentException("a drafting stage needs its head kind to be timed");
        if (!(headVocabularyShare > 0 && headVocabularyShare <= 1)) throw new IllegalArgumentException("vocabulary share must be in (0, 1]");
        this.headVocabularyShare = headVocabularyShare;
        this.real = real;
        this.profile = profile;
        this.headKind = headKind;
        this.clock = clock;
        this.layers = real.spec().layers().count();
    }

    /** Wraps {@code real}, reading its exit head's kind (if it drafts) from the model directory. */
    public static SimulatedLatencyExecutor wrap(ModelFiles files, StageExecutor real, DeviceProfile profile, PrecisePause pause) {
        if (!real.spec().drafts()) return new SimulatedLatencyExecutor(real, profile, null, pause);
        try (Arena arena = Arena.ofConfined()) {
            var head = ExitHeadFile.read(files.dir(), real.spec().exitHead(), real.spec().layers().to(), files.config(), arena);
            double share = head.vocabulary() == null ? 1 : (double) head.vocabulary().size() / files.config().vocabSize();
            return new SimulatedLatencyExecutor(real, profile, head.kind(), share, PaddingClock.system(pause));
        }
    }

    public DeviceProfile profile() {
        return profile;
    }

    public StageExecutor real() {
        return real;
    }

    /** Padding statistics since this executor was opened. */
    public PaddingStats stats() {
        synchronized (statsLock) {
            return stats;
        }
    }

    @Override
    public StageSpec spec() {
        return real.spec();
    }

    @Override
    public ModelConfig config() {
        return real.config();
    }

    @Override
    public void forward(long seq, int startPos, int n, float[] hidden) {
        long start = clock.nanoTime();
        real.forward(seq, startPos, n, hidden);
        padTo(start, profile.forwardNanos(layers, n));
    }

    /**
     * A batched call costs what one call over all its rows costs: per layer max(weight bytes ÷
     * bandwidth, 2 · parameters · rows ÷ compute), plus the call overhead once — the weights are read
     * once for every sequence in it, and the arithmetic grows with the rows. Neither free nor
     * penalized beyond that (attention's KV reads are left out, as for single calls).
     */
    @Override
    public void forward(io.ppsd.runtime.stage.StageBatch batch, float[] hidden) {
        long start = clock.nanoTime();
        real.forward(batch, hidden);
        padTo(start, profile.forwardNanos(layers, batch.totalRows()));
    }

    @Override
    public void admit(long seq, int maxPositions) {
        real.admit(seq, maxPositions);
    }

    @Override
    public void embed(int[] tokens, int off, int n, float[] hidden) {
        real.embed(tokens, off, n, hidden);
    }

    @Override
    public void logits(float[] hidden, int rows, float[] out) {
        long start = clock.nanoTime();
        real.logits(hidden, rows, out);
        padTo(start, profile.logitsNanos(rows));
    }

    /** The heads of a batch as one call: the head's layer over all rows, one projection per segment. */
    @Override
    public void draft(io.ppsd.runtime.stage.StageBatch batch, float[] hidden, float[] logits) {
        long start = clock.nanoTime();
        real.draft(batch, hidden, logits);
        padTo(start, profile.draftNanos(headKind, batch.totalRows(), batch.size(), headVocabularyShare));
    }

    /** Priced as {@link #draft(io.ppsd.runtime.stage.StageBatch, float[], float[])}: the head's work is the same, whatever comes back. */
    @Override
    public void draftGreedy(io.ppsd.runtime.stage.StageBatch batch, float[] hidden, int[] tokens) {
        long start = clock.nanoTime();
        real.draftGreedy(batch, hidden, tokens);
        padTo(start, profile.draftNanos(headKind, batch.totalRows(), batch.size(), headVocabularyShare));
    }

    @Override
    public void draft(long seq, int startPos, int rows, float[] hidden, float[] logits) {
        long start = clock.nanoTime();
        real.draft(seq, startPos, rows, hidden, logits);
        padTo(start, profile.draftNanos(headKind, rows, 1, headVocabularyShare));
    }

    @Override
    public int length(long seq) {
        return real.length(seq);
    }

    @Override
    public void truncate(long seq, int length) {
        real.truncate(seq, length);
    }

    @Override
    public void release(long seq) {
        real.release(seq);
    }

    @Override
    public void close() {
        real.close();
    }

    private void padTo(long start, long target) {
        long computed = clock.nanoTime() - start;
        long deadline = start + target;
        long overrun = 0, late = 0;
        if (computed >= target) {
            overrun = computed - target;
        } else {
            clock.pauseUntil(deadline);
            late = clock.nanoTime() - deadline;
        }
        synchronized (statsLock) {
            PaddingStats s = stats;
            stats = new PaddingStats(s.calls() + 1, s.targetNanos() + target, s.computeNanos() + computed,
                    s.overruns() + (overrun > 0 ? 1 : 0), s.overrunNanos() + overrun, s.latenessNanos() + late,
                    Math.max(s.maxLatenessNanos(), late));
        }
    }

    @Override
    public String toString() {
        return "simulated(" + profile.name() + ", " + real.spec() + ")";
    }
}
