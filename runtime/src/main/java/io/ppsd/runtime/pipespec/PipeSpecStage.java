package io.ppsd.runtime.pipespec;

import io.ppsd.runtime.ppsd.PipelineMessage;
import io.ppsd.runtime.ppsd.PipelineMessage.Begin;
import io.ppsd.runtime.ppsd.PipelineMessage.Finish;
import io.ppsd.runtime.ppsd.PipelineMessage.Proposed;
import io.ppsd.runtime.ppsd.PipelineMessage.Verdict;
import io.ppsd.runtime.ppsd.PipelineOutbox;
import io.ppsd.runtime.ppsd.PipelineStage;
import io.ppsd.runtime.ppsd.SequenceFailedException;
import io.ppsd.runtime.ppsd.StageReport;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One level of a PipeSpec hierarchy as a pipeline stage of the actor transport: stage k of the
 * pipeline is model k (smallest first, the target last), and it serves many sequences, each with
 * its own {@link HierarchyLevel}. The session's {@link Begin} reaches level 0, which passes it up
 * level by level (each prefills while passing it on); the target's tokens go to the session as
 * commits, in order; {@link Finish} frees a sequence and sends this level's report. Every level
 * takes steps of its own ({@link #step}: one model call for one sequence, in turn), so corrections
 * arriving in the mailbox are seen between calls.
 *
 * <p>Under a PPSD target ({@link #belowPpsdTarget}) the levels here are the draft models only:
 * level j is pipeline stage {@code firstStage + j}, and the level above the largest is the PPSD
 * pipeline's drafting stage 0, which takes their proposals as its drafts. The session's Begin then
 * reaches stage 0, which sends it to the largest draft model first, and it passes down level by
 * level — so every level holds the sequence before anything of it arrives from above or below.
 */
public final class PipeSpecStage implements PipelineStage {
    private final int index;
    private final int levels;
    private final ModelLevel model;
    private final WindowPolicy window;
    private final int lead;
    private final int minDrafts;
    private final PipelineOutbox out;
    private final int firstStage; // the pipeline stage of level 0
    private final boolean belowPpsd;
    private final Map<Long, HierarchyLevel> sequences = new LinkedHashMap<>();
    private final List<Long> turn = new ArrayList<>();
    /**
     * Sequences that ended here, the most recent ones (ids are never reused). Under a PPSD target
     * the pipeline can finish a short generation with its exit head before Begin has passed down
     * to every draft model: the Finish then comes first, this level reports having done nothing,
     * and the Begin that comes later is ignored. A repeated Finish is ignored too.
     */
    private final java.util.SequencedSet<Long> ended = new java.util.LinkedHashSet<>();
    private static final int ENDED_KEPT = 1024;
    private int next;

    /** {@code minDrafts}: the drafts a level waits for before a call (0: never waits; see {@link HierarchyLevel#canStep}). */
    public PipeSpecStage(int index, int levels, ModelLevel model, WindowPolicy window, int lead, int minDrafts, PipelineOutbox out) {
        this(index, levels, model, window, lead, minDrafts, 0, false, out);
    }

    /**
     * Draft level {@code index} of {@code draftLevels} under a PPSD target whose pipeline has its
     * stages first; level j is pipeline stage {@code firstStage + j}.
     */
    public static PipeSpecStage belowPpsdTarget(int index, int draftLevels, int firstStage, ModelLevel model, WindowPolicy window, int lead,
                                                int minDrafts, PipelineOutbox out) {
        if (firstStage < 2) throw new IllegalArgumentException("a PPSD target has at least 2 stages before its draft models, not " + firstStage);
        return new PipeSpecStage(index, draftLevels + 1, model, window, lead, minDrafts, firstStage, true, out);
    }

    private PipeSpecStage(int index, int levels, ModelLevel model, WindowPolicy window, int lead, int minDrafts, int firstStage, boolean belowPpsd,
                          PipelineOutbox out) {
        this.firstStage = firstStage;
        this.belowPpsd = belowPpsd;
        if (levels < 2) throw new IllegalArgumentException("PipeSpec needs at least one draft model and the target");
        if (index < 0 || index >= levels - (belowPpsd ? 1 : 0)) throw new IllegalArgumentException("no level " + index + " in a hierarchy of " + levels);
        this.index = index;
        this.levels = levels;
        this.model = model;
        this.window = window;
        this.lead = lead;
        this.minDrafts = minDrafts;
        this.out = out;
    }

    private boolean top() {
        return index == levels - 1;
    }

    /** The pipeline stage of level {@code level} (under a PPSD target, the target's is its stage 0). */
    private int stageOf(int level) {
        return belowPpsd && level == levels - 1 ? 0 : firstStage + level;
    }

    @Override
    public void handle(PipelineMessage message) {
        long seq = message.seq();
        switch (message) {
            case Begin b -> begin(b);
            case Proposed p -> deliver(seq, p);
            case Verdict v -> deliver(seq, v);
            case Finish f -> finish(seq);
            default -> throw new IllegalArgumentException("a PipeSpec level does not take " + message.getClass().getSimpleName());
        }
    }

    private void begin(Begin b) {
        long seq = b.seq();
        if (ended.contains(seq)) return;
        if (sequences.containsKey(seq)) finish(seq);
        var params = b.params();
        HierarchyLevel.Outbox outbox = new HierarchyLevel.Outbox() {
            @Override
            public void up(Proposed p) {
                if (!top()) {
                    out.toStage(stageOf(index + 1), p);
                    return;
                }
                int n = p.tokens().length;
                // All but the last token of a window are drafts the target kept; the last is its own.
                for (int i = 0; i < n; i++) out.committed(seq, p.position() + i, p.tokens()[i], i < n - 1);
            }

            @Override
            public void down(Verdict v) {
                out.toStage(stageOf(index - 1), v);
            }
        };
        if (belowPpsd) {
            if (index > 0) out.toStage(stageOf(index - 1), b);
        } else if (!top()) {
            out.toStage(index + 1, b);
        }
        var level = new HierarchyLevel(index, top(), model, seq, params.prompt(), params.maxLength(), lead, minDrafts, window, params.sampling(), outbox);
        sequences.put(seq, level);
        turn.add(seq);
        try {
            level.prefill();
        } catch (RuntimeException e) {
            drop(seq);
            throw new SequenceFailedException(seq, e);
        }
    }

    private void deliver(long seq, PipelineMessage m) {
        var level = sequences.get(seq);
        if (level == null) return; // the sequence ended here already: a message still in flight
        try {
            level.receive(m);
        } catch (RuntimeException e) {
            drop(seq);
            throw new SequenceFailedException(seq, e);
        }
    }

    private void finish(long seq) {
        var level = sequences.get(seq);
        if (level == null) {
            // Finished before it began here: report nothing done, and ignore the Begin still on its way.
            if (belowPpsd && !ended.contains(seq)) {
                out.report(seq, new StageReport(stageOf(index), 0, 0, 0, 0, 0, 0));
                remember(seq);
            }
            return;
        }
        remember(seq);
        var s = level.stats();
        out.report(seq, new StageReport(stageOf(index), s.rows(), s.wastedRows(), 0, top() ? s.draftsVerified() : 0,
                top() ? s.draftsAccepted() : 0, top() ? s.calls() : 0));
        drop(seq);
    }

    private void remember(long seq) {
        ended.add(seq);
        if (ended.size() > ENDED_KEPT) ended.removeFirst();
    }

    private void drop(long seq) {
        var level = sequences.remove(seq);
        turn.remove(seq);
        if (level != null) level.release();
    }

    /** One model call for the next sequence (in turn) that has work; false when none has. */
    @Override
    public boolean step() {
        for (int i = 0; i < turn.size(); i++) {
            int k = (next + i) % turn.size();
            long seq = turn.get(k);
            var level = sequences.get(seq);
            if (!level.canStep()) continue;
            next = k + 1;
            try {
                level.step();
            } catch (RuntimeException e) {
                drop(seq);
                throw new SequenceFailedException(seq, e);
            }
            return true;
        }
        return false;
    }

    @Override
    public boolean takesSteps() {
        return true;
    }

    @Override
    public int activeSequences() {
        return sequences.size();
    }
}
