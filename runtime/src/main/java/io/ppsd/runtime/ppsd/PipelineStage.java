package io.ppsd.runtime.ppsd;

import io.ppsd.runtime.stage.StageExecutor;

/**
 * The protocol logic of one pipeline stage, independent of how messages travel. A driver (a thread
 * or an actor) hands it messages one at a time and, between messages, lets it take work of its own
 * ({@link #step}) so that incoming rollbacks are seen between positions.
 */
public interface PipelineStage {
    void handle(PipelineMessage message);

    /**
     * Does one unit of own work (one drafted position) if there is any; false when idle. A failure
     * of that work is a {@link SequenceFailedException} naming the sequence, which is then released.
     */
    default boolean step() {
        return false;
    }

    /** Whether this stage has work of its own, so its driver must call {@link #step} between messages. */
    default boolean takesSteps() {
        return false;
    }

    /** Sequences with state on this stage (for tests and leak checks). */
    int activeSequences();

    /**
     * The protocol role of stage {@code stage} of {@code stageCount}: stage 0 drafts, the last one
     * verifies, the ones between relay. Every driver (thread or actor) picks roles here.
     */
    static PipelineStage forStage(int stage, int stageCount, StageExecutor executor, int prefillChunk, PipelineOutbox out) {
        return forStage(stage, stageCount, executor, prefillChunk, null, out);
    }

    /** The same, for a PPSD target under PipeSpec draft models ({@code draftModels} null: none). */
    static PipelineStage forStage(int stage, int stageCount, StageExecutor executor, int prefillChunk, DrafterStage.DraftModels draftModels,
                                  PipelineOutbox out) {
        if (stageCount < 2) throw new IllegalArgumentException("a PPSD pipeline needs at least 2 stages, got " + stageCount);
        if (stage < 0 || stage >= stageCount) throw new IllegalArgumentException("no stage " + stage + " in a pipeline of " + stageCount);
        if (stage == 0) return new DrafterStage(executor, prefillChunk, DrafterStage.DEFAULT_MAX_ROWS, draftModels, out);
        if (stage == stageCount - 1) return new VerifierStage(executor, stage, out);
        return new RelayStage(executor, stage, out);
    }
}
