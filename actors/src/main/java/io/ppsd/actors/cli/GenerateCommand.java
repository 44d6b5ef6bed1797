package io.ppsd.actors.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.SamplingParams;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.StageSpec;
import io.ppsd.runtime.tokenizer.Tokenizer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code ppsd generate}: one-shot text generation on this machine, streamed to standard output. */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate text from a prompt.")
final class GenerateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, description = "Hugging Face model directory (config.json, *.safetensors, tokenizer.json).")
    Path model;

    @Option(names = "--prompt", required = true, description = "Prompt text.")
    String prompt;

    @Option(names = "--max-tokens", defaultValue = "128", description = "Most new tokens to generate (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default), otherwise sampling temperature.")
    float temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "Keep the k most likely tokens (0 = all).")
    int topK;

    @Option(names = "--top-p", defaultValue = "1", description = "Nucleus sampling mass (1 = all).")
    float topP;

    @Option(names = "--repetition-penalty", defaultValue = "1", description = "CTRL-style repetition penalty (1 = none).")
    float repetitionPenalty;

    @Option(names = "--seed", defaultValue = "42", description = "Random seed for sampling (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--stop", description = "Stop when the output contains this string (repeatable).")
    List<String> stop = List.of();

    @Option(names = "--threads", description = "CPU threads (default: all cores).")
    Integer threads;

    @Option(names = "--json", description = "Print one JSON object instead of streaming text.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        int cores = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        if (cores < 1) throw new IllegalArgumentException("--threads must be ≥ 1");
        Tokenizer tokenizer = Tokenizer.load(model.resolve("tokenizer.json"));
        try (ModelFiles files = ModelFiles.open(model);
             CpuStageExecutor executor = new CpuStageExecutor(files, StageSpec.whole(files.config().numLayers()), cores,
                     new ProgressBar(System.err, "loading " + model.getFileName()))) {
            int[] ids = tokenizer.encode(prompt, true);
            var sampling = new SamplingParams(temperature, topK, topP, repetitionPenalty, seed);
            int eos = files.config().eosTokenId() >= 0 ? files.config().eosTokenId() : tokenizer.eosId();
            var request = new GenerationRequest(ids, maxTokens, sampling, eos >= 0 ? new int[] {eos} : new int[0], stop,
                    () -> tokenizer.newTextStream()::next);
            var stream = tokenizer.newTextStream();
            TokenListener listener = json ? TokenListener.NONE : token -> {
                out.print(stream.next(token));
                out.flush();
            };
            if (!json) {
                out.print(prompt);
                out.flush();
            }
            GenerationResult result = new AutoregressiveDecoder(executor).generate(1L, request, listener);
            var t = result.timings();
            if (json) {
                out.println(toJson(result, tokenizer.decode(result.generated(), true)));
            } else {
                out.print(stream.flush());
                out.println();
                out.flush();
                err.printf("prompt: %d tokens, %.1f tokens/s | generated: %d tokens, %.1f tokens/s | stop: %s%n",
                        t.promptTokens(), t.promptTokensPerSecond(), t.generatedTokens(), t.generatedTokensPerSecond(),
                        result.stopReason().name().toLowerCase());
            }
        }
        return 0;
    }

    private static String toJson(GenerationResult r, String text) {
        var mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        var p = root.putArray("prompt_token_ids");
        for (int id : r.prompt()) p.add(id);
        var g = root.putArray("generated_token_ids");
        for (int id : r.generated()) g.add(id);
        root.put("text", text);
        root.put("stop_reason", r.stopReason().name().toLowerCase());
        var t = root.putObject("timings");
        t.put("prompt_tokens", r.timings().promptTokens());
        t.put("prompt_ms", r.timings().promptNanos() / 1e6);
        t.put("prompt_tokens_per_s", r.timings().promptTokensPerSecond());
        t.put("generated_tokens", r.timings().generatedTokens());
        t.put("generation_ms", r.timings().generationNanos() / 1e6);
        t.put("generated_tokens_per_s", r.timings().generatedTokensPerSecond());
        return root.toString();
    }
}
