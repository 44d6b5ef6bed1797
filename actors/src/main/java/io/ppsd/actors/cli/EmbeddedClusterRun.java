package io.ppsd.actors.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.node.PpsdNode;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.protocol.GenerationEvent;
import io.ppsd.runtime.LocalDecoding;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.SamplingParams;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.tokenizer.Tokenizer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * {@code generate --strategy ppsd --transport actors}: starts a one-node cluster in this process
 * with one CPU device slot per layer (placement takes one per stage), runs the request through the
 * gateway like any client would, streams the tokens, and shuts the node down.
 */
record EmbeddedClusterRun(Path model, String prompt, String head, Integer exitLayer, int[] stageSizes, int maxTokens,
                          SamplingParams sampling, List<String> stop, boolean json, boolean compareAr, int cores) {

    int run(PrintWriter out, PrintWriter err) throws Exception {
        int layers;
        try (var files = ModelFiles.open(model)) {
            layers = files.config().numLayers();
        }
        String devices = IntStream.range(0, layers).mapToObj(i -> "\"cpu:" + i + "\"").collect(Collectors.joining(", "));
        String conf = """
                ppsd.pipelines.default { model = "%s", head = "%s", exit-layer = %d, stage-sizes = [%s] }
                ppsd.node { roles = ["gateway", "stage-host"], devices = [%s] }
                pekko.remote.artery.canonical.port = 0
                pekko.coordinated-shutdown.exit-jvm = off
                """.formatted(model.toAbsolutePath().toString().replace("\\", "/"), head == null ? "" : head, exitLayer == null ? 0 : exitLayer,
                stageSizes == null ? "" : Arrays.stream(stageSizes).mapToObj(Integer::toString).collect(Collectors.joining(", ")), devices);
        if (System.getenv("PPSD_LOG") == null) {
            // A one-shot run prints its result; the node's own life (stages loaded, released) is noise here.
            ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("io.ppsd.actors")).setLevel(ch.qos.logback.classic.Level.WARN);
        }
        ActorSystem<Void> system = PpsdNode.startAlone(ConfigFactory.parseString(conf));
        try {
            var params = new GenerateParams(maxTokens, sampling.temperature(), sampling.topK(), sampling.topP(),
                    sampling.repetitionPenalty(), sampling.seed(), stop, 600_000, null, false);
            if (!json) {
                out.print(prompt);
                out.flush();
            }
            var done = new PpsdClient(system).run(prompt, null, params, e -> {
                if (!json && e instanceof GenerationEvent.Token t) {
                    out.print(t.text());
                    out.flush();
                }
            }).toCompletableFuture().get(10, TimeUnit.MINUTES);
            GenerationResult ar = compareAr ? autoregressive() : null;
            var s = done.stats();
            if (json) {
                var root = new ObjectMapper().createObjectNode();
                var p = root.putArray("generated_token_ids");
                for (int id : done.tokenIds()) p.add(id);
                root.put("text", done.text());
                root.put("stop_reason", done.stopReason());
                root.put("strategy", "ppsd(actors)");
                root.put("acceptance_rate", s.acceptanceRate());
                root.put("tokens_per_step", s.tokensPerStep());
                root.put("generated_tokens_per_s", s.tokensPerSecond());
                if (ar != null) {
                    root.put("ar_tokens_per_s", ar.timings().generatedTokensPerSecond());
                    root.put("same_tokens_as_ar", Arrays.equals(ar.generated(), done.tokenIds()));
                }
                out.println(root);
            } else {
                out.println();
                err.printf(Locale.ROOT, "ppsd over actors | prompt: %d tokens in %.0f ms | generated: %d tokens, %.1f tokens/s | stop: %s%n",
                        s.promptTokens(), s.promptMillis(), s.generatedTokens(), s.tokensPerSecond(), done.stopReason());
                err.printf(Locale.ROOT, "acceptance α = %.3f (%d/%d drafts), tokens per step = %.2f, wasted stage-steps = %d%n",
                        s.acceptanceRate(), s.draftsAccepted(), s.draftsVerified(), s.tokensPerStep(), s.wastedStageSteps());
                if (ar != null) {
                    err.printf(Locale.ROOT, "AR: %.1f tokens/s | speedup over AR: %.2fx | same tokens as AR: %s%n",
                            ar.timings().generatedTokensPerSecond(), s.tokensPerSecond() / ar.timings().generatedTokensPerSecond(),
                            Arrays.equals(ar.generated(), done.tokenIds()));
                }
            }
            out.flush();
            return 0;
        } finally {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }

    private GenerationResult autoregressive() throws Exception {
        Tokenizer tokenizer = Tokenizer.load(model.resolve("tokenizer.json"));
        try (var files = ModelFiles.open(model);
             var ar = new LocalDecoding(files, LocalDecoding.Strategy.AR, null, null, 0, false, null, cores, LoadProgress.NONE)) {
            int[] ids = LocalDecoding.promptIds(tokenizer, files.config(), prompt);
            return ar.generate(new GenerationRequest(ids, maxTokens, sampling, LocalDecoding.stopTokens(tokenizer, files.config()), List.of(), null),
                    TokenListener.NONE);
        }
    }
}
