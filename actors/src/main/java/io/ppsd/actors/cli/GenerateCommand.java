package io.ppsd.actors.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ppsd.runtime.LocalDecoding;
import io.ppsd.runtime.decode.Decoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.SamplingParams;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.speculative.DecodingPlan;
import io.ppsd.runtime.speculative.DecodingPlan.Strategy;
import io.ppsd.runtime.tokenizer.PromptEncoder;
import io.ppsd.runtime.tokenizer.Tokenizer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
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

    @picocli.CommandLine.Mixin
    PipelineOptions pipeline = new PipelineOptions();

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

    @Option(names = "--strategy", defaultValue = "ppsd", description = "ar, eesd, ppsd or pipespec (default ${DEFAULT-VALUE}).")
    String strategy;

    @Option(names = "--draft-len", defaultValue = "4",
            description = "EESD draft length γ; pipespec: the most drafts a level verifies per call (default ${DEFAULT-VALUE}).")
    int draftLength;

    @Option(names = "--adaptive", description = "EESD: adapt γ to the observed acceptance; pipespec: adapt each level's window.")
    boolean adaptive;


    @Option(names = "--compare-ar", description = "Also run autoregressive decoding and report the speedup.")
    boolean compareAr;

    @Option(names = "--transport", defaultValue = "actors",
            description = "PPSD and PipeSpec: actors (sharded stage actors in an embedded one-node cluster) or threads (in-process driver) (default ${DEFAULT-VALUE}).")
    String transport;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        int cores = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        if (cores < 1) throw new IllegalArgumentException("--threads must be ≥ 1");
        Strategy chosen = Strategy.parse(strategy);
        if (!transport.equals("threads") && !transport.equals("actors")) throw new IllegalArgumentException("--transport must be actors or threads");
        Tokenizer tokenizer = Tokenizer.load(model.resolve("tokenizer.json"));
        try (ModelFiles files = ModelFiles.open(model)) {
            var config = files.config();
            var plan = pipeline.plan(model, config, chosen, draftLength, adaptive);
            var encoder = PromptEncoder.of(tokenizer, config, model);
            var sampling = new SamplingParams(temperature, topK, topP, repetitionPenalty, seed);
            var request = new GenerationRequest(encoder.encode(prompt), maxTokens, sampling, encoder.stopTokenIds(), stop,
                    () -> tokenizer.newTextStream()::next);
            var stream = tokenizer.newTextStream();
            TokenListener listener = json ? TokenListener.NONE : token -> {
                out.print(stream.next(token));
                out.flush();
            };
            GenerationResult result;
            String described;
            try (Decoder decoder = open(files, plan, cores)) {
                described = decoder.describe();
                if (!json) {
                    out.print(prompt);
                    out.flush();
                }
                result = decoder.generate(request, listener);
            }
            GenerationResult ar = null;
            if (compareAr && plan.strategy() != Strategy.AR) {
                try (var arDecoding = new LocalDecoding(files, DecodingPlan.autoregressive(config.numLayers()), cores, LoadProgress.NONE)) {
                    ar = arDecoding.generate(request, TokenListener.NONE);
                }
            }
            if (json) {
                out.println(toJson(result, tokenizer.decode(result.generated(), true), described, plan, ar));
            } else {
                out.print(stream.flush());
                out.println();
                out.flush();
                printSummary(err, result, described, plan, ar);
            }
        }
        return 0;
    }

    /** The decoder for the plan: PPSD over the actor pipeline by default, everything else in this process. */
    private Decoder open(ModelFiles files, DecodingPlan plan, int cores) {
        boolean pipelined = plan.strategy() == Strategy.PPSD || plan.strategy() == Strategy.PIPESPEC; // PipeSpec over a PPSD target is a PPSD plan
        if (pipelined && transport.equals("actors")) return EmbeddedCluster.start(model, plan);
        return new LocalDecoding(files, plan, cores, new ProgressBar(System.err, "loading " + model.getFileName()));
    }

    private static void printSummary(PrintWriter err, GenerationResult result, String described, DecodingPlan plan, GenerationResult ar) {
        var t = result.timings();
        err.printf(Locale.ROOT, "%s | prompt: %d tokens in %.0f ms | generated: %d tokens, %.1f tokens/s | stop: %s%n",
                described, t.promptTokens(), t.promptNanos() / 1e6, t.generatedTokens(), t.generatedTokensPerSecond(),
                result.stopReason().name().toLowerCase(Locale.ROOT));
        var sp = result.speculation();
        if (plan.strategy() != Strategy.AR) {
            err.printf(Locale.ROOT, "acceptance α = %.3f (%d/%d drafts), tokens per step = %.2f, wasted stage-steps = %d, theory: %s%n",
                    sp.acceptanceRate(), sp.draftsAccepted(), sp.draftsVerified(), sp.tokensPerStep(), sp.wastedStageSteps(),
                    plan.describeTheory(sp.acceptanceRate()));
        }
        if (ar != null) {
            err.printf(Locale.ROOT, "AR: %.1f tokens/s | speedup over AR: %.2fx | same tokens as AR: %s%n",
                    ar.timings().generatedTokensPerSecond(), result.timings().generatedTokensPerSecond() / ar.timings().generatedTokensPerSecond(),
                    Arrays.equals(ar.generated(), result.generated()));
        }
    }

    /** One JSON shape for every strategy and transport. */
    static String toJson(GenerationResult r, String text, String described, DecodingPlan plan, GenerationResult ar) {
        var mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        var p = root.putArray("prompt_token_ids");
        for (int id : r.prompt()) p.add(id);
        var g = root.putArray("generated_token_ids");
        for (int id : r.generated()) g.add(id);
        root.put("text", text);
        root.put("stop_reason", r.stopReason().name().toLowerCase(Locale.ROOT));
        root.put("strategy", plan.strategy().id());
        root.put("decoder", described);
        var sp = root.putObject("speculation");
        sp.put("drafts_verified", r.speculation().draftsVerified());
        sp.put("drafts_accepted", r.speculation().draftsAccepted());
        sp.put("acceptance_rate", r.speculation().acceptanceRate());
        sp.put("tokens_per_step", r.speculation().tokensPerStep());
        sp.put("wasted_stage_steps", r.speculation().wastedStageSteps());
        double theory = plan.theory(r.speculation().acceptanceRate());
        if (Double.isNaN(theory)) sp.putNull("theoretical_speedup");
        else sp.put("theoretical_speedup", theory);
        var t = root.putObject("timings");
        t.put("prompt_tokens", r.timings().promptTokens());
        t.put("prompt_ms", r.timings().promptNanos() / 1e6);
        t.put("prompt_tokens_per_s", r.timings().promptTokensPerSecond());
        t.put("generated_tokens", r.timings().generatedTokens());
        t.put("generation_ms", r.timings().generationNanos() / 1e6);
        t.put("generated_tokens_per_s", r.timings().generatedTokensPerSecond());
        if (ar != null) {
            root.put("ar_tokens_per_s", ar.timings().generatedTokensPerSecond());
            root.put("speedup_over_ar", r.timings().generatedTokensPerSecond() / ar.timings().generatedTokensPerSecond());
            root.put("same_tokens_as_ar", Arrays.equals(ar.generated(), r.generated()));
        }
        return root.toString();
    }
}
