package io.ppsd.actors.cli;

import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.speculative.DecodingPlan;
import io.ppsd.runtime.speculative.DecodingPlan.Strategy;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Option;

/** The options that choose what a PPSD pipeline runs, shared by {@code generate} and {@code serve}. */
final class PipelineOptions {
    @Option(names = "--head", description = "Early-exit head: a name in the model's exit_heads/, or 'norm' (default: the model's transformer head at N/4 if shipped, else norm).")
    String head;

    @Option(names = "--exit-layer", description = "Exit layer E (default: the head's; required for 'norm' without a shipped head: N/4).")
    Integer exitLayer;

    @Option(names = "--stage-sizes", split = ",", description = "PPSD: layers per stage, e.g. 4,12 (default: ⌈N/E⌉ stages of E layers).")
    int[] stageSizes;

    @Option(names = "--draft-models", split = ",", paramLabel = "DIR",
            description = "PipeSpec: separate draft models, smallest first, each a model directory with the target's tokenizer (the target is --model).")
    List<Path> draftModels = List.of();

    @Option(names = "--target", defaultValue = "whole",
            description = "PipeSpec: how the target runs: whole (one stage verifying windows of drafts) or ppsd (a PPSD pipeline, --head/--exit-layer/--stage-sizes apply, whose stage 0 drafts with the draft model's tokens) (default ${DEFAULT-VALUE}).")
    String target;

    /**
     * The plan these options choose for {@code strategy}: PipeSpec needs draft models, and its
     * target is whole or a PPSD pipeline; {@code window} and {@code adaptive} are EESD's draft
     * length or PipeSpec's verification window.
     */
    DecodingPlan plan(Path model, ModelConfig config, Strategy strategy, int window, boolean adaptive) {
        if (!target.equals("whole") && !target.equals("ppsd")) throw new IllegalArgumentException("--target must be whole or ppsd, got " + target);
        if (strategy != Strategy.PIPESPEC && !draftModels.isEmpty()) throw new IllegalArgumentException("--draft-models is for --strategy pipespec");
        if (strategy != Strategy.PIPESPEC && target.equals("ppsd")) throw new IllegalArgumentException("--target is for --strategy pipespec");
        if (strategy == Strategy.PIPESPEC && target.equals("ppsd")) {
            if (draftModels.isEmpty()) throw new IllegalArgumentException("pipespec needs at least one draft model (--draft-models DIR[,DIR...], smallest first)");
            return DecodingPlan.resolve(model, config, Strategy.PPSD, head, exitLayer, stageSizes, 0, false).withDraftModels(draftModels, window, adaptive);
        }
        if (strategy == Strategy.PIPESPEC) return DecodingPlan.pipespec(config, draftModels, window, adaptive);
        return DecodingPlan.resolve(model, config, strategy, head, exitLayer, stageSizes, window, adaptive);
    }
}
