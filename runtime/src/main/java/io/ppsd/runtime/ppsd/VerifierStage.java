package io.ppsd.runtime.ppsd;

import io.ppsd.runtime.decode.Sampler;
import io.ppsd.runtime.ppsd.PipelineMessage.Accepted;
import io.ppsd.runtime.ppsd.PipelineMessage.Finish;
import io.ppsd.runtime.ppsd.PipelineMessage.Hidden;
import io.ppsd.runtime.ppsd.PipelineMessage.Restart;
import io.ppsd.runtime.ppsd.PipelineMessage.Rollback;
import io.ppsd.runtime.speculative.Verifier;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.ppsd.PipelineMessage.Batch;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The last stage: finishes position p, computes the full model's token for p + 1 and compares it
 * with the draft that travelled with p. Accept: the draft is committed (it is already one stage
 * behind in the pipe). Reject: the full model's token is committed, a new epoch begins at p + 1,
 * stage 0 restarts from that token and the middle stages get a rollback hint. Every verification
 * commits exactly one token.
 */
public final class VerifierStage implements PipelineStage {
    private final StageExecutor executor;
    private final int stageIndex;
    private final PipelineOutbox out;
    private final Map<Long, Sequence> sequences = new HashMap<>();
    private final float[] logits;
    private final int dim;
    private final float[] lastRow;
    private float[] batchLogits = new float[0];

    private static final class Sequence {
        final EpochGate gate = new EpochGate();
        final PipelineMessage.SequenceParams params;
        final Verifier verifier;
        final int[] tokens;
        long decodePositions, verified, accepted;
        boolean stopped;

        Sequence(PipelineMessage.SequenceParams params, int vocab) {
            this.params = params;
            // The verifier draws from its own stream, independent of the drafter's.
            this.verifier = new Verifier(new Sampler(params.sampling().forVerifier(), vocab), vocab);
            this.tokens = new int[params.maxLength() + 1];
            System.arraycopy(params.prompt(), 0, tokens, 0, params.promptLength());
        }
    }

    public VerifierStage(StageExecutor executor, int stageIndex, PipelineOutbox out) {
        if (!executor.spec().lmHead()) throw new IllegalArgumentException("the verifying stage needs the LM head: " + executor.spec());
        this.executor = executor;
        this.stageIndex = stageIndex;
        this.out = out;
        this.dim = executor.config().hiddenSize();
        this.logits = new float[executor.config().vocabSize()];
        this.lastRow = new float[dim];
    }

    @Override
    public void handle(PipelineMessage message) {
        switch (message) {
            case Hidden m -> hidden(m);
            case Batch b -> batch(b);
            case Finish f -> {
                Sequence s = sequences.remove(f.seq());
                executor.release(f.seq());
                if (s != null) {
                    out.report(f.seq(), new StageReport(stageIndex, s.decodePositions, s.gate.wasted, s.gate.dropped, s.verified, s.accepted));
                }
            }
            default -> throw new IllegalArgumentException("the verifying stage does not take " + message.getClass().getSimpleName());
        }
    }

    private void hidden(Hidden m) {
        Sequence s;
        if (m.params() != null && m.pos() == 0) {
            executor.release(m.seq());
            DrafterStage.admit(executor, m.seq(), m.params().maxLength());
            s = new Sequence(m.params(), logits.length);
            sequences.put(m.seq(), s);
        } else {
            s = sequences.get(m.seq());
        }
        if (s == null || s.stopped || !s.gate.admit(m, executor)) return;
        executor.forward(m.seq(), m.pos(), m.rows(), m.hidden());
        int last = m.pos() + m.rows() - 1;
        if (m.draft() < 0) {
            if (last + 1 < s.params.promptLength()) return; // more prompt to come
            System.arraycopy(m.hidden(), (m.rows() - 1) * dim, lastRow, 0, dim);
            executor.logits(lastRow, 1, logits);
            int token = s.verifier.sample(logits, 0, s.tokens, historyLength(s, last));
            if (commit(m.seq(), s, last + 1, token, false)) {
                s.gate.advance(s.gate.epoch() + 1);
                out.toDrafter(new Restart(m.seq(), s.gate.epoch(), last + 1, token));
            }
            return;
        }
        executor.logits(m.hidden(), 1, logits);
        decide(m, s, logits, 0);
    }

    /** The decode rows of several sequences: one call through the layers and one through the LM head, then each verdict. */
    private void batch(Batch b) {
        List<Hidden> admitted = new ArrayList<>(b.parts().size());
        List<Sequence> states = new ArrayList<>(b.parts().size());
        for (Hidden m : b.parts()) {
            Sequence s = sequences.get(m.seq());
            if (s == null || s.stopped || !s.gate.admit(m, executor)) continue;
            admitted.add(m);
            states.add(s);
        }
        if (admitted.isEmpty()) return;
        float[] rows = BatchRows.forward(executor, admitted);
        int vocab = logits.length;
        if (batchLogits.length < admitted.size() * vocab) batchLogits = new float[admitted.size() * vocab];
        executor.logits(rows, admitted.size(), batchLogits);
        for (int i = 0; i < admitted.size(); i++) decide(admitted.get(i), states.get(i), batchLogits, i * vocab);
    }

    /** Verifies the draft that came with decode row {@code m} against the full model's logits at {@code off}. */
    private void decide(Hidden m, Sequence s, float[] logits, int off) {
        int last = m.pos() + m.rows() - 1;
        s.decodePositions++;
        var verdict = s.verifier.verify(m.draft(), m.draftProbs(), logits, off, s.tokens, historyLength(s, last));
        s.verified++;
        if (verdict.accepted()) s.accepted++;
        if (!commit(m.seq(), s, last + 1, verdict.token(), verdict.accepted())) return;
        if (verdict.accepted()) {
            out.toDrafter(new Accepted(m.seq(), s.gate.epoch(), last + 1));
        } else {
            s.gate.advance(s.gate.epoch() + 1);
            out.toDrafter(new Restart(m.seq(), s.gate.epoch(), last + 1, verdict.token()));
            out.toRelays(new Rollback(m.seq(), s.gate.epoch(), last + 1));
        }
    }

    private static int historyLength(Sequence s, int lastPos) {
        return s.params.sampling().repetitionPenalty() != 1f ? lastPos + 1 : 0;
    }

    /** Commits the token at {@code pos}; false when the sequence is over (a stop token, or its length). */
    private boolean commit(long seq, Sequence s, int pos, int token, boolean wasDraft) {
        s.tokens[pos] = token;
        out.committed(seq, pos, token, wasDraft);
        boolean stop = pos + 1 >= s.params.maxLength();
        for (int t : s.params.stopTokens()) stop |= token == t;
        if (!stop) return true;
        s.stopped = true;
        out.toAll(new Finish(seq));
        return false;
    }

    @Override
    public int activeSequences() {
        return sequences.size();
    }
}
