package io.ppsd.runtime.speculative;

import io.ppsd.runtime.heads.ExitHeadFile;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.stage.StageSpec;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * What a decoding strategy runs, resolved against a model directory once, for every transport:
 * the strategy, the early-exit head and its exit layer E, how the layers are cut into stages, and
 * EESD's draft length γ. The command line, the in-process decoders and the actor pipeline's
 * definition all resolve their options here, so they agree on defaults and on error messages.
 */
public record DecodingPlan(Strategy strategy, String head, int exitLayer, StagePlan stages, int draftLength, boolean adaptiveDraft) {

    public enum Strategy {
        AR, EESD, PPSD;

        public static Strategy parse(String s) {
            try {
                return valueOf(s.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown strategy '" + s + "' (ar, eesd, ppsd)");
            }
        }

        public String id() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Plain autoregressive decoding: the whole model on one stage. */
    public static DecodingPlan autoregressive(int numLayers) {
        return new DecodingPlan(Strategy.AR, null, numLayers, StagePlan.ofSizes(numLayers, numLayers), 0, false);
    }

    /**
     * Resolves the options of a strategy: {@code head} null = the model's default head (the shipped
     * transformer head at N/4, else norm); {@code exitLayer} null or ≤ 0 = the head's own (norm:
     * N/4); {@code stageSizes} null or empty = ⌈N/E⌉ stages of E layers (PPSD only; its first stage
     * must end at E). EESD always runs on [0, E) and [E, N).
     */
    public static DecodingPlan resolve(Path modelDir, ModelConfig config, Strategy strategy, String head, Integer exitLayer,
                                       int[] stageSizes, int draftLength, boolean adaptiveDraft) {
        int n = config.numLayers();
        if (strategy == Strategy.AR) return autoregressive(n);
        String h = head == null || head.isEmpty() ? ExitHeadFile.defaultHead(modelDir, config) : head;
        int e = ExitHeadFile.resolveExitLayer(modelDir, config, h, exitLayer != null && exitLayer > 0 ? exitLayer : null);
        StagePlan stages;
        if (strategy == Strategy.EESD) {
            if (draftLength < 1) throw new IllegalArgumentException("draft length γ must be ≥ 1, got " + draftLength);
            stages = StagePlan.draftAndRest(n, e);
        } else {
            stages = stageSizes != null && stageSizes.length > 0 ? StagePlan.ofSizes(n, stageSizes) : StagePlan.forExitLayer(n, e);
            if (stages.exitLayer() != e) {
                throw new IllegalArgumentException("the first stage " + stages.layers(0) + " must end at the exit layer " + e);
            }
            if (stages.stageCount() < 2) throw new IllegalArgumentException("a PPSD pipeline needs at least 2 stages, got " + stages);
        }
        return new DecodingPlan(strategy, h, e, stages, draftLength, adaptiveDraft);
    }

    public int numLayers() {
        return stages.numLayers();
    }

    public int stageCount() {
        return stages.stageCount();
    }

    /** The stage specs: the first drafts with the head (none for AR), the last holds the LM head. */
    public List<StageSpec> specs() {
        if (strategy == Strategy.AR) return List.of(StageSpec.whole(numLayers()));
        return stages.specs(head);
    }

    /** Theoretical speedup over AR at acceptance rate α (ρ* for PPSD, S_EESD for EESD; 1 for AR). */
    public double theory(double alpha) {
        return switch (strategy) {
            case AR -> 1;
            case EESD -> SpeedupTheory.eesd(alpha, draftLength, numLayers(), exitLayer);
            case PPSD -> SpeedupTheory.ppsd(alpha, numLayers(), exitLayer);
        };
    }

    /** The theory's name and value, e.g. {@code ρ*(α) = 1.42x}. */
    public String describeTheory(double alpha) {
        return switch (strategy) {
            case AR -> "1.00x";
            case EESD -> String.format(Locale.ROOT, "S_EESD(α, γ=%d) = %.2fx", draftLength, theory(alpha));
            case PPSD -> String.format(Locale.ROOT, "ρ*(α) = %.2fx", theory(alpha));
        };
    }

    /** For people: {@code ar}, {@code eesd(head=…, E=…, γ=…)}, {@code ppsd(head=…, E=…, stages=… […])}. */
    public String describe() {
        return switch (strategy) {
            case AR -> "ar";
            case EESD -> "eesd(head=" + head + ", E=" + exitLayer + ", γ=" + draftLength + (adaptiveDraft ? " adaptive" : "") + ")";
            case PPSD -> "ppsd(head=" + head + ", E=" + exitLayer + ", stages=" + stageCount() + " " + stages + ")";
        };
    }
}
