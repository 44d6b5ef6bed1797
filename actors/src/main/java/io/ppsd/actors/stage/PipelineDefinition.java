package io.ppsd.actors.stage;

import com.typesafe.config.Config;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.pipespec.WindowPolicy;
import io.ppsd.runtime.ppsd.DraftWindow;
import io.ppsd.runtime.speculative.DecodingPlan;
import io.ppsd.runtime.stage.StageSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A pipeline as configured under {@code ppsd.pipelines.<name>}: which model, and its
 * {@link DecodingPlan} resolved as every other front end does. Stage k of pipeline p is the
 * sharded entity {@code p/k}. A PPSD pipeline's stages are the layer ranges of the plan's cut; a
 * PipeSpec pipeline ({@code draft-models} set) has one stage per model, the smallest draft model
 * first and the target ({@code model}) last, each stage holding its whole model. PipeSpec over a
 * PPSD target ({@code target = "ppsd"}): the target's S PPSD stages first, then the draft models
 * (stage S + k is draft model k).
 */
public record PipelineDefinition(String name, Path modelDir, ModelConfig config, DecodingPlan plan, DraftWindow window, int prefillChunk,
                                 List<ModelConfig> draftConfigs, int waitForDrafts, boolean stageZeroWaits) {

    public PipelineDefinition {
        draftConfigs = List.copyOf(draftConfigs);
    }

    public static PipelineDefinition fromConfig(String name, Config c) {
        Path modelDir = Path.of(c.getString("model"));
        ModelConfig config = ModelConfig.read(modelDir.resolve("config.json"));
        int[] sizes = c.getIntList("stage-sizes").stream().mapToInt(Integer::intValue).toArray();
        List<Path> drafts = c.getStringList("draft-models").stream().map(Path::of).toList();
        DecodingPlan plan;
        List<ModelConfig> draftConfigs = new ArrayList<>();
        try {
            String target = c.getString("target");
            if (!target.equals("whole") && !target.equals("ppsd")) throw new IllegalArgumentException("target must be \"whole\" or \"ppsd\", got \"" + target + "\"");
            if (drafts.isEmpty() || target.equals("ppsd")) {
                plan = DecodingPlan.resolve(modelDir, config, DecodingPlan.Strategy.PPSD, c.getString("head"), c.getInt("exit-layer"), sizes, 0, false);
                if (!drafts.isEmpty()) plan = plan.withDraftModels(drafts, c.getInt("verify-window"), c.getBoolean("adaptive-window"));
            } else {
                plan = DecodingPlan.pipespec(config, drafts, c.getInt("verify-window"), c.getBoolean("adaptive-window"));
            }
            if (!drafts.isEmpty()) {
                for (Path d : drafts) {
                    ModelConfig dc = ModelConfig.read(d.resolve("config.json"));
                    if (dc.vocabSize() != config.vocabSize()) {
                        throw new IllegalArgumentException("draft model " + d + " has a vocabulary of " + dc.vocabSize() + " tokens, the target "
                                + config.vocabSize() + ": the levels of a hierarchy must share the target's tokenizer");
                    }
                    draftConfigs.add(dc);
                }
            }
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("pipeline '" + name + "': " + e.getMessage(), e);
        }
        int positions = c.getInt("window");
        if (positions < 0) throw new IllegalArgumentException("pipeline '" + name + "': window must be ≥ 0 (0 = automatic), got " + positions);
        DraftWindow window = c.getBoolean("adaptive-window")
                ? (positions > 0 ? DraftWindow.adaptive(positions) : DraftWindow.defaultFor(plan.stageCount()))
                : DraftWindow.fixed(positions > 0 ? positions : plan.stageCount());
        if (c.getBoolean("speculation-by-load")) window = window.withLoadAdaptation();
        // Prefill chunks stay well under the remote frame size: rows × hidden × 4 bytes ≤ 512 KiB.
        int maxRows = Math.max(1, (512 * 1024) / (4 * config.hiddenSize()));
        int chunk = Math.min(c.getInt("prefill-chunk"), maxRows);
        int wait = c.getInt("wait-for-drafts");
        if (wait < 0 || (plan.hasDraftModels() && wait > plan.draftLength())) {
            throw new IllegalArgumentException("pipeline '" + name + "': wait-for-drafts must be in [0, verify-window], got " + wait);
        }
        return new PipelineDefinition(name, modelDir, config, plan, window, chunk, draftConfigs, wait, c.getBoolean("stage0-waits-for-drafts"));
    }

    /** PipeSpec with the target whole: stage k is model k, the target last. */
    public boolean pipespec() {
        return plan.strategy() == DecodingPlan.Strategy.PIPESPEC;
    }

    /** PipeSpec over a PPSD target: the target's PPSD stages first, then the draft models. */
    public boolean ppsdTarget() {
        return plan.ppsdTarget();
    }

    /** The stages of the target's PPSD pipeline (a PPSD pipeline's every stage; none for PipeSpec with the target whole). */
    public int targetStages() {
        return pipespec() ? 0 : plan.stageCount();
    }

    public int stageCount() {
        return pipespec() ? draftConfigs.size() + 1 : plan.stageCount() + draftConfigs.size();
    }

    /** The draft model stage {@code stage} holds, or -1 for a stage of the target. */
    public int draftModelAt(int stage) {
        int k = pipespec() ? stage : stage - plan.stageCount();
        return k >= 0 && k < draftConfigs.size() ? k : -1;
    }

    /** The model directory stage {@code stage} loads (PipeSpec: its level's model). */
    public Path modelDir(int stage) {
        int k = draftModelAt(stage);
        return k >= 0 ? plan.draftModels().get(k) : modelDir;
    }

    public StageSpec spec(int stage) {
        int k = draftModelAt(stage);
        if (k >= 0) return StageSpec.whole(draftConfigs.get(k).numLayers());
        return pipespec() ? StageSpec.whole(config.numLayers()) : plan.specs().get(stage);
    }

    /** The longest sequence every stage can hold: the target's context, or the smallest of a hierarchy's. */
    public int contextLength() {
        int context = config.maxPositions();
        for (ModelConfig d : draftConfigs) context = Math.min(context, d.maxPositions());
        return context;
    }

    /** PipeSpec: each level's bound on the drafts it verifies per call. */
    public WindowPolicy verifyWindow() {
        return plan.adaptiveDraft() ? WindowPolicy.adaptive(plan.draftLength()) : WindowPolicy.fixed(plan.draftLength());
    }

    public String entityId(int stage) {
        return name + "/" + stage;
    }

    /** Pipeline name and stage index of an entity id "name/k". */
    public record StageId(String pipeline, int stage) {
        public static StageId parse(String entityId) {
            int slash = entityId.lastIndexOf('/');
            if (slash <= 0) throw new IllegalArgumentException("stage entity id '" + entityId + "' is not <pipeline>/<stage>");
            try {
                return new StageId(entityId.substring(0, slash), Integer.parseInt(entityId.substring(slash + 1)));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("stage entity id '" + entityId + "' is not <pipeline>/<stage>");
            }
        }
    }
}
