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
 * first and the target ({@code model}) last, each stage holding its whole model.
 */
public record PipelineDefinition(String name, Path modelDir, ModelConfig config, DecodingPlan plan, DraftWindow window, int prefillChunk,
                                 List<ModelConfig> draftConfigs, int waitForDrafts) {

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
            if (drafts.isEmpty()) {
                plan = DecodingPlan.resolve(modelDir, config, DecodingPlan.Strategy.PPSD, c.getString("head"), c.getInt("exit-layer"), sizes, 0, false);
            } else {
                plan = DecodingPlan.pipespec(config, drafts, c.getInt("verify-window"), c.getBoolean("adaptive-window"));
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
        if (wait < 0 || (plan.strategy() == DecodingPlan.Strategy.PIPESPEC && wait > plan.draftLength())) {
            throw new IllegalArgumentException("pipeline '" + name + "': wait-for-drafts must be in [0, verify-window], got " + wait);
        }
        return new PipelineDefinition(name, modelDir, config, plan, window, chunk, draftConfigs, wait);
    }

    public boolean pipespec() {
        return plan.strategy() == DecodingPlan.Strategy.PIPESPEC;
    }

    public int stageCount() {
        return pipespec() ? draftConfigs.size() + 1 : plan.stageCount();
    }

    /** The model directory stage {@code stage} loads (PipeSpec: its level's model). */
    public Path modelDir(int stage) {
        return pipespec() && stage < draftConfigs.size() ? plan.draftModels().get(stage) : modelDir;
    }

    public StageSpec spec(int stage) {
        if (!pipespec()) return plan.specs().get(stage);
        return StageSpec.whole(stage < draftConfigs.size() ? draftConfigs.get(stage).numLayers() : config.numLayers());
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
