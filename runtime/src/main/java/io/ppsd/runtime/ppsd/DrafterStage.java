package io.ppsd.runtime.ppsd;

import io.ppsd.runtime.decode.Sampler;
import io.ppsd.runtime.ppsd.PipelineMessage.Accepted;
import io.ppsd.runtime.ppsd.PipelineMessage.Begin;
import io.ppsd.runtime.ppsd.PipelineMessage.Finish;
import io.ppsd.runtime.ppsd.PipelineMessage.Hidden;
import io.ppsd.runtime.ppsd.PipelineMessage.Restart;
import io.ppsd.runtime.stage.StageExecutor;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Stage 0 of a PPSD pipeline: layers [0, E) plus the exit head. It prefills prompts, then for each
 * sequence takes the newest token x_p, runs its layers, drafts d_(p+1) with the head, sends the
 * hidden state of x_p downstream together with d_(p+1), and goes straight on with d_(p+1) — at
 * most as many positions beyond the last verified one as the sequence's {@link DraftWindow} and
 * {@link DraftPacing} allow. A {@link Restart} from the verifier
 * (a rejection, or the first token after prefill) rolls the caches back and continues from the
 * verifier's token.
 */
public final class DrafterStage implements PipelineStage {
    private final StageExecutor executor;
    private final int stageIndex;
    private final int prefillChunk;
    private final PipelineOutbox out;
    private final Map<Long, Sequence> sequences = new HashMap<>();
    private final ArrayDeque<Long> roundRobin = new ArrayDeque<>();
    private final float[] logits;
    private final int dim;
    private final DraftPacing pacing = new DraftPacing();

    private static final class Sequence {
        final PipelineMessage.SequenceParams params;
        final Sampler sampler;
        final int[] tokens; // the token fed at each position of the current path
        final long[] sentAt; // when the draft made at each position left (0: none in this epoch)
        int epoch = 0;
        int epochStart = 0;
        int nextPos;
        int verified = -1;
        long decodePositions, wasted;

        Sequence(PipelineMessage.SequenceParams params, int vocab) {
            this.params = params;
            this.sampler = new Sampler(params.sampling(), vocab);
            this.tokens = new int[params.maxLength() + 1];
            this.sentAt = new long[params.maxLength() + 1];
        }
    }

    public DrafterStage(StageExecutor executor, int prefillChunk, PipelineOutbox out) {
        if (!executor.spec().embedding() || !executor.spec().drafts()) {
            throw new IllegalArgumentException("the drafting stage needs the embedding and an exit head: " + executor.spec());
        }
        this.executor = executor;
        this.stageIndex = 0;
        this.prefillChunk = prefillChunk;
        this.out = out;
        this.dim = executor.config().hiddenSize();
        this.logits = new float[executor.config().vocabSize()];
    }

    @Override
    public void handle(PipelineMessage message) {
        switch (message) {
            case Begin b -> begin(b);
            case Restart r -> restart(r);
            case Accepted a -> {
                Sequence s = sequences.get(a.seq());
                if (s != null && a.epoch() == s.epoch) {
                    if (s.sentAt[a.pos() - 1] > 0) pacing.verdict(s.sentAt[a.pos() - 1], System.nanoTime(), true);
                    s.sentAt[a.pos() - 1] = 0;
                    s.verified = Math.max(s.verified, a.pos());
                }
            }
            case Finish f -> finish(f.seq());
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
        for (int p = 0; p < n; p += prefillChunk) {
            int rows = Math.min(prefillChunk, n - p);
            float[] hidden = new float[rows * dim];
            executor.embed(prompt, p, rows, hidden);
            executor.forward(b.seq(), p, rows, hidden);
            executor.draft(b.seq(), p, rows, hidden, logits); // fills a transformer head's cache
            out.downstream(new Hidden(b.seq(), 0, 0, p, rows, hidden, -1, null, p == 0 ? b.params() : null));
        }
        s.nextPos = n;
    }

    private void restart(Restart r) {
        Sequence s = sequences.get(r.seq());
        if (s == null || r.epoch() <= s.epoch) return; // stale
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
        if (!roundRobin.contains(r.seq())) roundRobin.add(r.seq());
    }

    private boolean runnable(Sequence s) {
        return s.epoch > 0 && s.nextPos <= s.verified + pacing.positions(s.params.window()) - 1 && s.nextPos < s.params.maxLength() - 1;
    }

    @Override
    public boolean takesSteps() {
        return true;
    }

    @Override
    public boolean step() {
        for (int tries = roundRobin.size(); tries > 0; tries--) {
            Long seq = roundRobin.poll();
            Sequence s = sequences.get(seq);
            if (s == null) continue;
            roundRobin.add(seq);
            if (runnable(s)) {
                try {
                    draftOne(seq, s);
                } catch (RuntimeException e) {
                    finish(seq);
                    throw new SequenceFailedException(seq, e);
                }
                return true;
            }
        }
        pacing.idle();
        return false;
    }

    private void draftOne(long seq, Sequence s) {
        pacing.callStarted(System.nanoTime());
        int p = s.nextPos;
        float[] hidden = new float[dim];
        executor.embed(s.tokens, p, 1, hidden);
        executor.forward(seq, p, 1, hidden);
        executor.draft(seq, p, 1, hidden, logits);
        float[] probs = null;
        int draft;
        boolean penalty = s.params.sampling().repetitionPenalty() != 1f;
        int historyLength = penalty ? p + 1 : 0;
        if (s.params.sampling().isGreedy()) {
            draft = s.sampler.sample(logits, 0, s.tokens, historyLength);
        } else {
            probs = Arrays.copyOf(s.sampler.distribution(logits, 0, s.tokens, historyLength), logits.length);
            draft = s.sampler.draw(probs);
        }
        s.decodePositions++;
        s.tokens[p + 1] = draft;
        s.nextPos = p + 1;
        out.downstream(new Hidden(seq, s.epoch, s.epochStart, p, 1, hidden, draft, probs, null));
        long now = System.nanoTime();
        s.sentAt[p] = now;
        pacing.callEnded(now);
    }

    private void finish(long seq) {
        Sequence s = sequences.remove(seq);
        roundRobin.remove(seq);
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
