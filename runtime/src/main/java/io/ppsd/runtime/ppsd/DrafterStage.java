package io.ppsd.runtime.ppsd;

import io.ppsd.runtime.decode.Sampler;
import io.ppsd.runtime.ppsd.PipelineMessage.Accepted;
import io.ppsd.runtime.ppsd.PipelineMessage.Begin;
import io.ppsd.runtime.ppsd.PipelineMessage.Finish;
import io.ppsd.runtime.ppsd.PipelineMessage.Hidden;
import io.ppsd.runtime.ppsd.PipelineMessage.Restart;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.ppsd.PipelineMessage.Batch;
import io.ppsd.runtime.stage.StageBatch;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Stage 0 of a PPSD pipeline: layers [0, E) plus the exit head. For each sequence it takes the
 * newest token x_p, runs its layers, drafts d_(p+1) with the head, sends the hidden state of x_p
 * downstream together with d_(p+1), and goes straight on with d_(p+1) — at most as many positions
 * beyond the last verified one as the sequence's {@link DraftWindow} and {@link DraftPacing} allow.
 * A {@link Restart} from the verifier (a rejection, or the first token after prefill) rolls the
 * caches back and continues from the verifier's token.
 *
 * <p>It is the pipeline's scheduler: each {@link #step} is one batched call of its executor over
 * one position of every sequence that may draft (in turn, at most {@code maxRows}) plus at most
 * one prefill chunk of the oldest sequence still prefilling, so a long prompt is prefilled chunk by
 * chunk between decoding steps instead of stalling them. The decode rows leave as one
 * {@link Batch} message, a prefill chunk as its own {@link Hidden}. Fairness: every sequence that
 * may draft gets a row in every call (when more than {@code maxRows} may, the ones left out come
 * first in the next call), and prompts are prefilled first come, first served, one chunk per call.
 *
 * <p>Under a PipeSpec hierarchy of draft models ({@link DraftModels}: PipeSpec with a PPSD
 * target), the highest draft model is the level below this stage: it proposes tokens ahead of the
 * pipeline, and a row whose next position has a proposal sends that token as its draft instead of
 * the exit head's. This stage plays the verifying level's part towards it ({@link
 * ProposalsFromBelow}): proposals at positions it already holds are checked against its path, a
 * mismatch or a rollback of its own corrects the level below, and each row tells it how far the
 * path reaches (the level below drafts within its lead of that). Waiting ({@link
 * DraftModels#waits}): a sequence drafts only when the next proposal is there, so every draft is
 * the draft model's and the exit head does not run at all; not waiting, the exit head fills in
 * whenever the draft model is behind (right after a rollback, typically) and the draft model is
 * corrected to follow. Either way the verifier sees drafts with the distribution they were drawn
 * from, so the output is unchanged.
 */
public final class DrafterStage implements PipelineStage {
    private final StageExecutor executor;
    private final int stageIndex;
    private final int prefillChunk;
    private final PipelineOutbox out;
    private final Map<Long, Sequence> sequences = new HashMap<>();
    private final ArrayDeque<Long> roundRobin = new ArrayDeque<>();
    private final ArrayDeque<Long> prefilling = new ArrayDeque<>();
    private final int maxRows;
    private final int vocab;
    private final int dim;
    private final DraftPacing pacing = new DraftPacing();
    private final SpeculationByLoad byLoad = new SpeculationByLoad();
    private final StageBatch batch = new StageBatch();
    private final DraftModels draftModels;
    private float[] draftLogits = new float[0];
    /** The head's greedy drafts of a call whose rows all draft greedily (no logits row leaves a device then). */
    private int[] draftTokens = new int[0];

    private static final class Sequence {
        final PipelineMessage.SequenceParams params;
        final Sampler sampler;
        final int[] tokens; // the token fed at each position of the current path
        final long[] sentAt; // when the draft made at each position left (0: none in this epoch)
        int epoch = 0;
        int epochStart = 0;
        int nextPos;
        int prefilled; // prompt positions computed and sent (the prompt's length once done)
        int verified = -1;
        long decodePositions, wasted;
        ProposalsFromBelow below; // the draft models' proposals, under a PipeSpec hierarchy

        Sequence(PipelineMessage.SequenceParams params, int vocab) {
            this.params = params;
            this.sampler = new Sampler(params.sampling(), vocab);
            this.tokens = new int[params.maxLength() + 1];
            this.sentAt = new long[params.maxLength() + 1];
        }
    }

    /** The most decode rows in one call by default: far more sequences than a stage serves at once today. */
    public static final int DEFAULT_MAX_ROWS = 64;

    public DrafterStage(StageExecutor executor, int prefillChunk, PipelineOutbox out) {
        this(executor, prefillChunk, DEFAULT_MAX_ROWS, out);
    }

    /**
     * The draft models below a PPSD target: {@code highestStage} is the pipeline stage of the
     * largest draft model (the level that proposes to this stage); {@code waits}: whether a
     * sequence waits for its next proposal rather than drafting with the exit head.
     */
    public record DraftModels(int highestStage, boolean waits) {}

    public DrafterStage(StageExecutor executor, int prefillChunk, int maxRows, PipelineOutbox out) {
        this(executor, prefillChunk, maxRows, null, out);
    }

    /** {@code draftModels}: the PipeSpec draft models below this stage, or null (the exit head drafts alone). */
    public DrafterStage(StageExecutor executor, int prefillChunk, int maxRows, DraftModels draftModels, PipelineOutbox out) {
        this.draftModels = draftModels;
        if (maxRows < 1) throw new IllegalArgumentException("a call needs room for at least one row, got " + maxRows);
        this.maxRows = maxRows;
        if (!executor.spec().embedding() || !executor.spec().drafts()) {
            throw new IllegalArgumentException("the drafting stage needs the embedding and an exit head: " + executor.spec());
        }
        this.executor = executor;
        this.stageIndex = 0;
        this.prefillChunk = prefillChunk;
        this.out = out;
        this.dim = executor.config().hiddenSize();
        this.vocab = executor.config().vocabSize();
    }

    @Override
    public void handle(PipelineMessage message) {
        switch (message) {
            case Begin b -> begin(b);
            case Restart r -> restart(r);
            case Accepted a -> {
                Sequence s = sequences.get(a.seq());
                if (s != null && a.epoch() == s.epoch) {
                    if (s.params.window().byLoad()) byLoad.verdict();
                    if (s.sentAt[a.pos() - 1] > 0) pacing.verdict(s.sentAt[a.pos() - 1], System.nanoTime(), true);
                    s.sentAt[a.pos() - 1] = 0;
                    s.verified = Math.max(s.verified, a.pos());
                }
            }
            case Finish f -> finish(f.seq());
            case PipelineMessage.Proposed p when draftModels != null -> {
                Sequence s = sequences.get(p.seq());
                if (s != null) s.below.offer(p, s.tokens, pathLength(s), "stage 0");
            }
            default -> throw new IllegalArgumentException("stage 0 does not take " + message.getClass().getSimpleName());
        }
    }

    private void begin(Begin b) {
        finish(b.seq());
        admit(executor, b.seq(), b.params().maxLength());
        var s = new Sequence(b.params(), executor.config().vocabSize());
        int[] prompt = b.params().prompt();
        int n = prompt.length;
        System.arraycopy(prompt, 0, s.tokens, 0, n);
        sequences.put(b.seq(), s);
        if (draftModels != null) {
            // Before anything else this stage sends the draft models (per-sender order keeps it first).
            out.toStage(draftModels.highestStage(), b);
            s.below = new ProposalsFromBelow(b.seq(), n, b.params().maxLength(), b.params().sampling().isGreedy(),
                    v -> out.toStage(draftModels.highestStage(), v));
        }
        s.nextPos = n;
        prefilling.add(b.seq()); // prefilled chunk by chunk by the steps, between decoding rows
    }

    private void restart(Restart r) {
        Sequence s = sequences.get(r.seq());
        if (s == null || r.epoch() <= s.epoch) return; // stale
        if (s.epoch > 0 && s.params.window().byLoad()) byLoad.verdict(); // epoch 1 starts after prefill: no verdict on a draft
        if (r.pos() > 0 && s.sentAt[r.pos() - 1] > 0) pacing.verdict(s.sentAt[r.pos() - 1], System.nanoTime(), false);
        // Forget the send times of this epoch's drafts (only positions below nextPos were sent).
        Arrays.fill(s.sentAt, Math.max(0, r.pos() - 1), Math.max(r.pos(), Math.min(s.sentAt.length, s.nextPos + 1)), 0L);
        int length = executor.length(r.seq());
        if (length > r.pos()) {
            s.wasted += length - r.pos();
            executor.truncate(r.seq(), r.pos());
        }
        s.epoch = r.epoch();
        s.epochStart = r.pos();
        s.nextPos = r.pos();
        s.tokens[r.pos()] = r.token();
        s.verified = r.pos();
        // The draft models continue from the verifier's token (their proposals past it are stale).
        if (s.below != null) s.below.correct(r.pos(), s.tokens, r.pos() + 1);
        if (!roundRobin.contains(r.seq())) roundRobin.add(r.seq());
    }

    /** Whether the sequence's drafts are the head's argmax alone (greedy, no repetition penalty). */
    private static boolean greedyDrafts(Sequence s) {
        return s.params.sampling().isGreedy() && s.params.sampling().repetitionPenalty() == 1f;
    }

    /** Waiting for the draft models, every row's draft is theirs: the exit head never runs. */
    private boolean headUnused() {
        return draftModels != null && draftModels.waits();
    }

    /** The positions whose token is known on this stage's path: the prompt, then every token fed or drafted. */
    private static int pathLength(Sequence s) {
        return s.epoch == 0 ? s.params.promptLength() : s.nextPos + 1;
    }

    /** Whether the draft models have proposed the token after the sequence's newest one. */
    private static boolean proposalReady(Sequence s) {
        return s.below.available() > 0 && s.below.start() == s.nextPos + 1;
    }

    private boolean runnable(Sequence s) {
        return s.epoch > 0 && s.nextPos <= s.verified + positions(s) - 1 && s.nextPos < s.params.maxLength() - 1
                && (s.below == null || !draftModels.waits() || proposalReady(s));
    }

    /** Positions the sequence may have in flight now: its window, or one when the load makes speculating a loss. */
    private int positions(Sequence s) {
        DraftWindow window = s.params.window();
        int w = pacing.positions(window);
        if (window.byLoad() && !byLoad.speculate()) return 1;
        return w;
    }


    @Override
    public boolean takesSteps() {
        return true;
    }

    /** One batched call: a row for every sequence that may draft, and the next chunk of the oldest prompt still prefilling. */
    @Override
    public boolean step() {
        List<Long> rows = new ArrayList<>();
        for (int tries = roundRobin.size(); tries > 0 && rows.size() < maxRows; tries--) {
            Long seq = roundRobin.poll();
            Sequence s = sequences.get(seq);
            if (s == null) continue;
            roundRobin.add(seq);
            if (runnable(s)) rows.add(seq);
        }
        Long prefill = prefilling.peek();
        if (rows.isEmpty() && prefill == null) {
            pacing.idle();
            return false;
        }
        Sequence ps = prefill == null ? null : sequences.get(prefill);
        int chunk = ps == null ? 0 : Math.min(prefillChunk, ps.params.promptLength() - ps.prefilled);
        long t0 = System.nanoTime();
        if (!rows.isEmpty()) pacing.callStarted(t0);
        batch.clear();
        if (chunk > 0) batch.add(prefill, ps.prefilled, chunk);
        for (long seq : rows) batch.add(seq, sequences.get(seq).nextPos, 1);
        float[] hidden = new float[batch.totalRows() * dim];
        // Rows that all draft greedily (no penalty, no draft models) need only the head's argmax.
        boolean greedy = draftModels == null;
        for (long seq : rows) greedy &= greedyDrafts(sequences.get(seq));
        if (greedy && draftTokens.length < batch.size()) draftTokens = new int[batch.size()];
        if (!greedy && draftLogits.length < batch.size() * vocab) draftLogits = new float[batch.size() * vocab];
        try {
            // The head over every segment in one call (a prefill chunk fills a transformer head's cache);
            // greedy rows in one piece with the layers (a device keeps the rows between them); none when
            // every draft is the draft models' (waiting for them, the head's would never be used).
            if (greedy) {
                executor.embedForwardDraftGreedy(batch, seq -> sequences.get(seq).tokens, hidden, draftTokens);
            } else {
                executor.embed(batch, seq -> sequences.get(seq).tokens, hidden);
                executor.forward(batch, hidden);
                if (!headUnused()) executor.draft(batch, hidden, draftLogits);
            }
        } catch (RuntimeException e) {
            // The call as a whole failed: fail its sequences (finishing them frees whatever it appended).
            long[] all = new long[batch.size()];
            for (int i = 0; i < batch.size(); i++) all[i] = batch.seq(i);
            for (long seq : all) finish(seq);
            throw new SequenceFailedException(all, e);
        }
        List<Long> failed = new ArrayList<>();
        RuntimeException failure = null;
        if (chunk > 0) sendPrefillChunk(prefill, ps, chunk, Arrays.copyOfRange(hidden, 0, chunk * dim));
        List<Hidden> parts = new ArrayList<>(rows.size());
        for (int i = chunk > 0 ? 1 : 0; i < batch.size(); i++) {
            long seq = batch.seq(i);
            try {
                parts.add(draftRow(seq, sequences.get(seq), Arrays.copyOfRange(hidden, batch.rowOffset(i) * dim, (batch.rowOffset(i) + 1) * dim),
                        draftLogits, i * vocab, greedy ? draftTokens[i] : -1));
            } catch (RuntimeException e) {
                failed.add(seq);
                failure = e;
            }
        }
        out.downstream(parts);
        long now = System.nanoTime();
        for (Hidden h : parts) sequences.get(h.seq()).sentAt[h.pos()] = now;
        if (!rows.isEmpty()) pacing.callEnded(now);
        // The load: every sequence sharing the stages, decoding, prefilling (a burst of new prompts takes the
        // stages' time as much as decoding does; counted as light load it made speculation look slow) or
        // waiting for its first token (its prompt is at the later stages). The by-load ones among them are
        // the sessions whose time the rule's rates are per.
        int byLoadSessions = 0, starting = 0;
        for (Sequence s : sequences.values()) {
            if (s.params.window().byLoad()) byLoadSessions++;
            if (s.epoch == 0) starting++;
        }
        byLoad.call(sequences.size(), starting, byLoadSessions, now);
        if (!failed.isEmpty()) {
            for (long seq : failed) finish(seq);
            throw new SequenceFailedException(failed.stream().mapToLong(Long::longValue).toArray(), failure);
        }
        return true;
    }

    /** The next token of one decode row, drawn from the head's logits at {@code off}; the row's hidden state travels with it. */
    private Hidden draftRow(long seq, Sequence s, float[] hidden, float[] headLogits, int off, int greedyDraft) {
        int p = s.nextPos;
        float[] probs = null;
        int draft;
        boolean penalty = s.params.sampling().repetitionPenalty() != 1f;
        int historyLength = penalty ? p + 1 : 0;
        if (s.below != null && proposalReady(s)) {
            draft = s.below.token(p + 1);
            float[] q = s.below.distribution(p + 1);
            probs = q == null ? null : q.clone();
            s.below.consume(p + 2);
        } else if (greedyDraft >= 0) {
            draft = greedyDraft; // the head's argmax, picked by the executor
        } else if (s.params.sampling().isGreedy()) {
            draft = s.sampler.sample(headLogits, off, s.tokens, historyLength);
        } else {
            probs = Arrays.copyOf(s.sampler.distribution(headLogits, off, s.tokens, historyLength), vocab);
            draft = s.sampler.draw(probs);
        }
        s.decodePositions++;
        s.tokens[p + 1] = draft;
        s.nextPos = p + 1;
        if (s.below != null) s.below.progress(p + 2);
        return new Hidden(seq, s.epoch, s.epochStart, p, 1, hidden, draft, probs, null);
    }

    /** A prompt chunk computed in this call (the head has seen it): it goes on alone. */
    private void sendPrefillChunk(long seq, Sequence s, int rows, float[] hidden) {
        int p = s.prefilled;
        s.prefilled += rows;
        if (s.prefilled == s.params.promptLength()) prefilling.poll();
        out.downstream(new Hidden(seq, 0, 0, p, rows, hidden, -1, null, p == 0 ? s.params : null));
    }

    private void finish(long seq) {
        Sequence s = sequences.remove(seq);
        roundRobin.remove(seq);
        prefilling.remove(seq);
        executor.release(seq);
        if (s != null) out.report(seq, new StageReport(stageIndex, s.decodePositions, s.wasted, 0, 0, 0));
    }

    /** Reserves the sequence's KV cache up front; a device without room refuses this sequence only. */
    static void admit(StageExecutor executor, long seq, int maxLength) {
        try {
            executor.admit(seq, maxLength);
        } catch (io.ppsd.runtime.stage.KvBudget.Exceeded e) {
            executor.release(seq);
            throw new SequenceFailedException(seq, e);
        }
    }

    @Override
    public int activeSequences() {
        return sequences.size();
    }
}
