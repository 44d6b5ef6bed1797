package io.ppsd.runtime.pipespec;

import io.ppsd.runtime.ppsd.DraftWindow;
import io.ppsd.runtime.ppsd.DrafterStage;
import io.ppsd.runtime.ppsd.InProcessPipeline;
import io.ppsd.runtime.ppsd.PipelineOutbox;
import io.ppsd.runtime.ppsd.PipelineStage;
import io.ppsd.runtime.stage.StageExecutor;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * PipeSpec with a PPSD target: the target runs as a PPSD pipeline (its stages first; stage 0
 * drafts, the last verifies), and the draft models run as PipeSpec levels after them (stage
 * {@code S + j} for draft model j, smallest first). The largest draft model proposes to the
 * target's stage 0, which sends those tokens down the pipeline as its drafts (see {@link
 * DrafterStage}); the PPSD verifier's rollbacks reach the draft models as corrections from stage 0.
 * So the target pipelines its own verification across its stages, and the draft models keep
 * drafting ahead of it on devices of their own.
 */
public final class PpsdTarget {
    private PpsdTarget() {}

    /**
     * Whether stage 0 waits for the draft models' next token rather than drafting with its exit
     * head when they are behind. Waiting is the default: measured (bench --suite pipespec, the
     * shipped models, simulated A100-13B) it gave 1.36× / 1.76× AR (prose / code) against 1.00× /
     * 1.26× for the exit head filling in with the heads shipped first (a head draft after each
     * rollback was right at α 0.27, and each miss costs a refill and a correction), and 1.35× /
     * 1.75× against 1.39× / 1.54× with the retrained heads; waiting, stage 0 skips its exit head.
     */
    public static final boolean WAITS_BY_DEFAULT = true;

    /** The stage of the largest draft model (the level below the target's stage 0). */
    public static int highestDraftStage(int targetStages, int draftModels) {
        return targetStages + draftModels - 1;
    }

    /** The protocol of draft model {@code level} as stage {@code targetStages + level} of the pipeline. */
    public static PipelineStage draftStage(int level, int draftModels, int targetStages, ModelLevel model, WindowPolicy window, int lead,
                                           int minDrafts, PipelineOutbox out) {
        return PipeSpecStage.belowPpsdTarget(level, draftModels, targetStages, model, window, lead, minDrafts, out);
    }

    /**
     * Both on threads of this process: the target over {@code targetStages}, {@code drafts}
     * smallest first. {@code window}, {@code lead} and {@code minDrafts} are the draft models'
     * PipeSpec settings; {@code waits}: whether stage 0 waits for a proposal rather than drafting
     * with its exit head when the draft models are behind.
     */
    public static InProcessPipeline inProcess(List<StageExecutor> targetStages, List<ModelLevel> drafts, WindowPolicy window, int lead,
                                              int minDrafts, boolean waits, int prefillChunk, DraftWindow ppsdWindow, InProcessPipeline.Chaos chaos) {
        if (drafts.isEmpty()) throw new IllegalArgumentException("PipeSpec with a PPSD target needs at least one draft model");
        ModelLevel.requireTargetVocabulary(drafts, targetStages.getFirst().config());
        int s = targetStages.size(), k = drafts.size();
        List<Function<PipelineOutbox, PipelineStage>> levels = new ArrayList<>();
        for (int j = 0; j < k; j++) {
            int level = j;
            levels.add(out -> draftStage(level, k, s, drafts.get(level), window, lead, minDrafts, out));
        }
        return new InProcessPipeline(targetStages, prefillChunk, ppsdWindow, chaos, new DrafterStage.DraftModels(highestDraftStage(s, k), waits), levels);
    }
}
