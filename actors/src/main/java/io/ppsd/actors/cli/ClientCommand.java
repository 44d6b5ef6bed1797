package io.ppsd.actors.cli;

import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.protocol.GenerationEvent;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code ppsd client}: a separate JVM that joins a running cluster as a member without devices,
 * finds a gateway and generates — what any other JVM service does through {@link PpsdClient}.
 */
@Command(name = "client", mixinStandardHelpOptions = true, description = "Join a ppsd cluster as a client and generate text.")
final class ClientCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--seed", description = "A seed node of the cluster, host:port (repeatable; default: the seed nodes of --config).")
    List<String> seeds;

    @Option(names = "--config", description = "Node file whose transport this client uses, e.g. cluster-configs/client.conf for a TLS cluster (default: plain TCP).")
    java.nio.file.Path config;

    @Option(names = "--prompt", required = true, description = "Prompt text.")
    String prompt;

    @Option(names = "--max-tokens", defaultValue = "64", description = "Most new tokens (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default).")
    float temperature;

    @Option(names = "--seed-random", defaultValue = "42", description = "Sampling seed (default ${DEFAULT-VALUE}).")
    long samplingSeed;

    @Option(names = "--pipeline", description = "Configured pipeline name (default: the cluster's default).")
    String pipeline;

    @Option(names = "--timeout", defaultValue = "120", description = "Deadline in seconds (default ${DEFAULT-VALUE}).")
    int timeoutSeconds;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        ActorSystem<Void> system = ClientNode.join(seeds, config, Duration.ofSeconds(timeoutSeconds));
        try {
            var params = GenerateParams.builder(maxTokens).sampling(temperature, samplingSeed)
                    .deadlineMillis(timeoutSeconds * 1000L).pipeline(pipeline).build();
            out.print(prompt);
            out.flush();
            var done = new PpsdClient(system).run(prompt, null, params, e -> {
                if (e instanceof GenerationEvent.Token t) {
                    out.print(t.text());
                    out.flush();
                }
            }).toCompletableFuture().get(timeoutSeconds + 30L, TimeUnit.SECONDS);
            out.println();
            err.printf(Locale.ROOT, "%d tokens, %.1f tokens/s, α = %.3f, stop: %s, rebuilds: %d%n", done.timings().generatedTokens(),
                    done.timings().generatedTokensPerSecond(), done.speculation().acceptanceRate(),
                    done.stopReason().name().toLowerCase(Locale.ROOT), done.rebuilds());
            return 0;
        } finally {
            ClientNode.leave(system, Duration.ofSeconds(30), err);
        }
    }
}
