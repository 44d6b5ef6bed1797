package io.ppsd.actors.stage;

import com.typesafe.config.Config;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.ppsd.DraftWindow;
import io.ppsd.runtime.speculative.DecodingPlan;
import io.ppsd.runtime.stage.StageSpec;
import java.nio.file.Path;

/**
 * A PPSD pipeline as configured under {@code ppsd.pipelines.<name>}: which model, and its
 * {@link DecodingPlan} (exit head, exit layer, stage cut) resolved as every other front end does. Stage k of pipeline p is the sharded entity {@code p/k}.
 */
public record PipelineDefinition(String name, Path modelDir, ModelConfig config, DecodingPlan plan, DraftWindow window, int prefillChunk) {

    public static PipelineDefinition fromConfig(String name, Config c) {
        Path modelDir = Path.of(c.getString("model"));
        ModelConfig config = ModelConfig.read(modelDir.resolve("config.json"));
        int[] sizes = c.getIntList("stage-sizes").stream().mapToInt(Integer::intValue).toArray();
        DecodingPlan plan;
        try {
            plan = DecodingPlan.resolve(modelDir, config, DecodingPlan.Strategy.PPSD, c.getString("head"), c.getInt("exit-layer"), sizes, 0, false);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("pipeline '" + name + "': " + e.getMessage(), e);
        }
        int positions = c.getInt("window");
        if (positions < 0) throw new IllegalArgumentException("pipeline '" + name + "': window must be ≥ 0 (0 = automatic), got " + positions);
        DraftWindow window = c.getBoolean("adaptive-window")
                ? (positions > 0 ? DraftWindow.adaptive(positions) : DraftWindow.defaultFor(plan.stageCount()))
                : DraftWindow.fixed(positions > 0 ? positions : plan.stageCount());
        // Prefill chunks stay well under the remote frame size: rows × hidden × 4 bytes ≤ 512 KiB.
        int maxRows = Math.max(1, (512 * 1024) / (4 * config.hiddenSize()));
        int chunk = Math.min(c.getInt("prefill-chunk"), maxRows);
        return new PipelineDefinition(name, modelDir, config, plan, window, chunk);
    }

    public int stageCount() {
        return plan.stageCount();
    }

    public StageSpec spec(int stage) {
        return plan.specs().get(stage);
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
