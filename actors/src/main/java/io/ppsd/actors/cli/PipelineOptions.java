package io.ppsd.actors.cli;

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
}
