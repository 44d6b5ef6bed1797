package io.ppsd.actors.cli;

import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.http.HttpSettings;
import io.ppsd.actors.http.OpenAiServer;
import io.ppsd.actors.node.PpsdNode;
import io.ppsd.actors.stage.PipelineRegistry;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.speculative.DecodingPlan;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code ppsd serve}: the OpenAI-compatible HTTP API over a PPSD pipeline of actors in this JVM (an
 * embedded cluster of one, as {@code generate} runs), until stopped.
 */
@Command(name = "serve", mixinStandardHelpOptions = true, description = "Serve a model over an OpenAI-compatible HTTP API.")
final class ServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @picocli.CommandLine.Mixin
    PipelineOptions pipeline = new PipelineOptions();

    @Option(names = "--model", required = true, description = "Hugging Face model directory (config.json, *.safetensors, tokenizer.json).")
    Path model;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to listen on (default ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--port", defaultValue = "8000", description = "Port to listen on (default ${DEFAULT-VALUE}; 0 = any free port).")
    int port;

    @Option(names = "--served-model-name", description = "Name clients use as \"model\" (repeatable; default: the model directory's name).")
    List<String> servedNames = List.of();

    @Option(names = "--api-key", description = "A key clients must send as 'Authorization: Bearer KEY' (repeatable; PPSD_API_KEY adds comma-separated keys).")
    List<String> apiKeys = List.of();

    @Option(names = "--allow-unauthenticated", description = "Serve a non-loopback address without API keys.")
    boolean allowUnauthenticated;

    @Option(names = "--verify-window", defaultValue = "4",
            description = "PipeSpec: the most drafts a level verifies per call; it adapts below this (default ${DEFAULT-VALUE}).")
    int verifyWindow;

    @Option(names = "--threads-per-stage", defaultValue = "1", description = "CPU cores per stage (default ${DEFAULT-VALUE}).")
    int threadsPerStage;

    @Option(names = "--max-running", description = "Requests generating at once (default: ppsd.gateway.max-running).")
    Integer maxRunning;

    @Option(names = "--max-waiting", description = "Requests waiting for room before more are refused with 429 (default: ppsd.gateway.max-waiting).")
    Integer maxWaiting;

    private static String quoted(String s) {
        return com.typesafe.config.ConfigValueFactory.fromAnyRef(s).render();
    }

    private static String list(List<String> items) {
        return com.typesafe.config.ConfigValueFactory.fromIterable(items).render();
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (!Files.isRegularFile(model.resolve("config.json"))) throw new IllegalArgumentException("no model at " + model + " (config.json missing)");
        ModelConfig config = ModelConfig.read(model.resolve("config.json"));
        var plan = pipeline.plan(model, config, pipeline.draftModels.isEmpty() ? DecodingPlan.Strategy.PPSD : DecodingPlan.Strategy.PIPESPEC,
                verifyWindow, true);
        List<String> names = servedNames.isEmpty() ? List.of(model.toAbsolutePath().normalize().getFileName().toString()) : servedNames;
        String conf = EmbeddedCluster.config(model, plan, threadsPerStage)
                + (maxRunning != null ? "ppsd.gateway.max-running = " + maxRunning + "\n" : "")
                + (maxWaiting != null ? "ppsd.gateway.max-waiting = " + maxWaiting + "\n" : "")
                + "ppsd.http { host = " + quoted(host) + ", port = " + port + ", allow-unauthenticated = " + allowUnauthenticated
                + ", api-keys = " + list(apiKeys) + ", served-model-names = " + list(names) + " }\n";
        var own = ConfigFactory.parseString(conf);
        var nodeConfig = PpsdNode.configure(own);
        var settings = HttpSettings.fromConfig(nodeConfig, "default");
        ActorSystem<Void> system = PpsdNode.startAlone(own);
        try {
            var binding = OpenAiServer.start(system, settings, new PipelineRegistry(nodeConfig)).toCompletableFuture().get(60, TimeUnit.SECONDS);
            var address = binding.localAddress();
            out.printf("ppsd serving %s (%s) on http://%s:%d/v1%s%n", settings.servedModels().keySet(), plan.describe(), address.getHostString(),
                    address.getPort(), settings.apiKeys().isEmpty() ? "" : " (API keys required)");
            out.flush();
            Runtime.getRuntime().addShutdownHook(new Thread(system::terminate));
            system.getWhenTerminated().toCompletableFuture().join();
            return 0;
        } catch (Exception e) {
            EmbeddedCluster.stop(system);
            throw e;
        }
    }
}
