package io.ppsd.runtime.ppsd;

import io.ppsd.runtime.ppsd.PipelineMessage.Finish;
import io.ppsd.runtime.ppsd.PipelineMessage.Hidden;
import io.ppsd.runtime.ppsd.PipelineMessage.Rollback;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.ppsd.PipelineMessage.Batch;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** A middle stage: runs its layers on what arrives and passes it on, under the epoch rules. */
public final class RelayStage implements PipelineStage {
    private final StageExecutor executor;
    private final int stageIndex;
    private final PipelineOutbox out;
    private final Map<Long, Sequence> sequences = new HashMap<>();

    private static final class Sequence {
        final EpochGate gate = new EpochGate();
        long decodePositions;
    }

    public RelayStage(StageExecutor executor, int stageIndex, PipelineOutbox out) {
        this.executor = executor;
        this.stageIndex = stageIndex;
        this.out = out;
    }

    @Override
    public void handle(PipelineMessage message) {
        switch (message) {
            case Hidden m -> {
                Sequence s = m.params() != null && m.pos() == 0 ? fresh(m.seq(), m.params().maxLength()) : sequences.get(m.seq());
                if (s == null || !s.gate.admit(m, executor)) return;
                executor.forward(m.seq(), m.pos(), m.rows(), m.hidden());
                if (m.draft() >= 0) s.decodePositions += m.rows();
                out.downstream(m);
            }
            case Batch b -> {
                // One call over the rows of every sequence the epoch rules admit; they go on as one message.
                List<Hidden> admitted = new ArrayList<>(b.parts().size());
                for (Hidden m : b.parts()) {
                    Sequence s = sequences.get(m.seq());
                    if (s != null && s.gate.admit(m, executor)) {
                        admitted.add(m);
                        s.decodePositions += m.rows();
                    }
                }
                BatchRows.forward(executor, admitted);
                out.downstream(admitted);
            }
            case Rollback r -> {
                Sequence s = sequences.get(r.seq());
                if (s != null) s.gate.hint(r.epoch(), r.pos());
            }
            case Finish f -> {
                Sequence s = sequences.remove(f.seq());
                executor.release(f.seq());
                if (s != null) out.report(f.seq(), new StageReport(stageIndex, s.decodePositions, s.gate.wasted, s.gate.dropped, 0, 0));
            }
            default -> throw new IllegalArgumentException("a relay stage does not take " + message.getClass().getSimpleName());
        }
    }

    private Sequence fresh(long seq, int maxLength) {
        executor.release(seq);
        DrafterStage.admit(executor, seq, maxLength);
        var s = new Sequence();
        sequences.put(seq, s);
        return s;
    }

    @Override
    public int activeSequences() {
        return sequences.size();
    }
}
