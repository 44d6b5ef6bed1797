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
 *
 * <p>PipeSpec with a PPSD target is a PPSD plan with draft models ({@link #ppsdTarget()}): the
 * target's layers are cut into PPSD stages as usual, and its stage 0 drafts with the tokens of the
 * largest draft model (the exit head filling in when it is behind); {@code draftLength} and
 * {@code adaptiveDraft} are then the draft models' verification window.
 */
public record DecodingPlan(Strategy strategy, String head, int exitLayer, StagePlan stages, int draftLength, boolean adaptiveDraft,
                           List<Path> draftModels) {

    public enum Strategy {
        AR, EESD, PPSD, PIPESPEC;

        public static Strategy parse(String s) {
            try {
                return valueOf(s.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown strategy '" + s + "' (ar, eesd, ppsd, pipespec)");
            }
        }

        public String id() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public DecodingPlan {
        draftModels = List.copyOf(draftModels);
        if (strategy == Strategy.PIPESPEC && draftModels.isEmpty()) {
            throw new IllegalArgumentException("pipespec needs at least one draft model (--draft-models DIR[,DIR...], smallest first)");
        }
        if (!draftModels.isEmpty() && strategy != Strategy.PIPESPEC && strategy != Strategy.PPSD) {
            throw new IllegalArgumentException("draft models are for the pipespec strategy (its target whole or a ppsd pipeline), not " + strategy.id());
        }
    }

    public DecodingPlan(Strategy strategy, String head, int exitLayer, StagePlan stages, int draftLength, boolean adaptiveDraft) {
        this(strategy, head, exitLayer, stages, draftLength, adaptiveDraft, List.of());
    }

    /** Plain autoregressive decoding: the whole model on one stage. */
    public static DecodingPlan autoregressive(int numLayers) {
        return new DecodingPlan(Strategy.AR, null, numLayers, StagePlan.ofSizes(numLayers, numLayers), 0, false);
    }

    /**
     * PipeSpec: the target (the model of {@code config}) verifies the drafts of the separate models
     * in {@code draftModels}, smallest first, each verifying the one before it; {@code window} the
     * most drafts a level verifies per call ({@code adaptive}: the bound follows acceptance and call
     * times). Each draft directory must hold a model with the target's vocabulary.
     */
    public static DecodingPlan pipespec(ModelConfig config, List<Path> draftModels, int window, boolean adaptive) {
        if (draftModels == null || draftModels.isEmpty()) {
            throw new IllegalArgumentException("pipespec needs at least one draft model (--draft-models DIR[,DIR...], smallest first)");
        }
        requireDraftModels(draftModels, window);
        int n = config.numLayers();
        return new DecodingPlan(Strategy.PIPESPEC, null, n, StagePlan.ofSizes(n, n), window, adaptive, draftModels);
    }

    /**
     * PipeSpec with this PPSD plan as its target: {@code draftModels} smallest first, the largest
     * proposing to stage 0; {@code window} and {@code adaptive} as for {@link #pipespec}.
     */
    public DecodingPlan withDraftModels(List<Path> draftModels, int window, boolean adaptive) {
        if (strategy != Strategy.PPSD) throw new IllegalArgumentException("only a ppsd plan can be the target under draft models, not " + strategy.id());
        requireDraftModels(draftModels, window);
        return new DecodingPlan(strategy, head, exitLayer, stages, window, adaptive, draftModels);
    }

    private static void requireDraftModels(List<Path> draftModels, int window) {
        if (draftModels == null || draftModels.isEmpty()) {
            throw new IllegalArgumentException("pipespec needs at least one draft model (--draft-models DIR[,DIR...], smallest first)");
        }
        if (window < 1) throw new IllegalArgumentException("the verification window must be ≥ 1, got " + window);
        for (Path d : draftModels) {
            if (!java.nio.file.Files.isRegularFile(d.resolve("config.json"))) {
                throw new IllegalArgumentException("draft model " + d + " is not a model directory (no config.json)");
            }
        }
    }

    /** PipeSpec with a PPSD target: a PPSD plan whose stage 0 drafts with draft models' tokens. */
    public boolean ppsdTarget() {
        return strategy == Strategy.PPSD && !draftModels.isEmpty();
    }

    /** Whether the plan runs separate draft models (PipeSpec, with its target whole or a PPSD pipeline). */
    public boolean hasDraftModels() {
        return !draftModels.isEmpty();
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
        if (strategy == Strategy.AR || strategy == Strategy.PIPESPEC) return List.of(StageSpec.whole(numLayers()));
        return stages.specs(head);
    }

    /** Theoretical speedup over AR at acceptance rate α (ρ* for PPSD, S_EESD for EESD; 1 for AR). */
    public double theory(double alpha) {
        return switch (strategy) {
            case AR -> 1;
            case EESD -> SpeedupTheory.eesd(alpha, draftLength, numLayers(), exitLayer);
            case PPSD -> SpeedupTheory.ppsd(alpha, numLayers(), exitLayer);
            // One draft model keeping up with its window (its relative cost unknown here); deeper hierarchies: no model.
            case PIPESPEC -> draftModels.size() == 1 ? SpeedupTheory.pipespec(alpha, draftLength, 0) : Double.NaN;
        };
    }

    /** The theory's name and value, e.g. {@code ρ*(α) = 1.42x}. */
    public String describeTheory(double alpha) {
        return switch (strategy) {
            case AR -> "1.00x";
            case EESD -> String.format(Locale.ROOT, "S_EESD(α, γ=%d) = %.2fx", draftLength, theory(alpha));
            case PPSD -> String.format(Locale.ROOT, ppsdTarget() ? "ρ*(α) = %.2fx (PPSD's, at the drafts' acceptance)" : "ρ*(α) = %.2fx", theory(alpha));
            case PIPESPEC -> draftModels.size() == 1
                    ? String.format(Locale.ROOT, "S_PipeSpec(α, w=%d) = %.2fx (ppsd's model; a draft that keeps up, a device per model)", draftLength, theory(alpha))
                    : "no model for deeper hierarchies (see the benchmark)";
        };
    }

    /** For people: {@code ar}, {@code eesd(head=…, E=…, γ=…)}, {@code ppsd(head=…, E=…, stages=… […])}. */
    public String describe() {
        return switch (strategy) {
            case AR -> "ar";
            case EESD -> "eesd(head=" + head + ", E=" + exitLayer + ", γ=" + draftLength + (adaptiveDraft ? " adaptive" : "") + ")";
            case PPSD -> (ppsdTarget() ? "pipespec(drafts=" + draftNames() + ", window" + (adaptiveDraft ? "≤" : "=") + draftLength
                    + (adaptiveDraft ? " adaptive" : "") + ") over a " : "")
                    + "ppsd(head=" + head + ", E=" + exitLayer + ", stages=" + stageCount() + " " + stages + ")";
            case PIPESPEC -> "pipespec(drafts=" + draftNames()
                    + ", window" + (adaptiveDraft ? "≤" : "=") + draftLength + (adaptiveDraft ? " adaptive" : "") + ")";
        };
    }

    private List<String> draftNames() {
        return draftModels.stream().map(p -> p.getFileName().toString()).toList();
    }
}
