package io.ppsd.actors.cli;

import io.ppsd.actors.probe.HopLatency;
import io.ppsd.actors.probe.HopProbe;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.Arrays;
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
 * {@code ppsd probe}: joins a running cluster and measures the messaging latency of a pipeline's
 * stage hops with {@link HopProbe} — what a deployment adds per token on top of computation.
 * One-way hop times need the nodes to share a clock (one host); the round trip is valid anywhere.
 */
@Command(name = "probe", mixinStandardHelpOptions = true,
        description = "Measure the per-hop messaging latency of a running pipeline (probes around its idle stages).")
final class ProbeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--seed", description = "A seed node of the cluster, host:port (repeatable; default: the seed nodes of --config).")
    List<String> seeds;

    @Option(names = "--config", description = "Node file whose transport this client uses, e.g. cluster-configs/client.conf for a TLS cluster (default: plain TCP).")
    java.nio.file.Path config;

    @Option(names = "--pipeline", defaultValue = "default", description = "Configured pipeline name (default: ${DEFAULT-VALUE}).")
    String pipeline;

    @Option(names = "--count", defaultValue = "500", description = "Probes measured, one at a time (default: ${DEFAULT-VALUE}).")
    int count;

    @Option(names = "--warmup", defaultValue = "50", description = "Probes sent first and not counted (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--payload", defaultValue = "0", description = "Floats carried per probe, e.g. the model's hidden size (default: ${DEFAULT-VALUE}).")
    int payload;

    @Option(names = "--timeout", defaultValue = "60", description = "Seconds a probe may take (the first one loads the stages) (default: ${DEFAULT-VALUE}).")
    int timeoutSeconds;

    @Override
    public Integer call() throws Exception {
        if (count < 1 || warmup < 0 || payload < 0) throw new IllegalArgumentException("--count must be ≥ 1, --warmup and --payload ≥ 0");
        PrintWriter out = spec.commandLine().getOut();
        ActorSystem<Void> system = ClientNode.join(seeds, config, Duration.ofSeconds(timeoutSeconds));
        try {
            var settings = new HopProbe.Settings(pipeline, count, warmup, payload, Duration.ofSeconds(timeoutSeconds));
            var result = HopProbe.measure(system, settings).toCompletableFuture().get(timeoutSeconds + 10L * (count + warmup), TimeUnit.SECONDS);
            out.printf(Locale.ROOT, "pipeline '%s', %d probes of %d bytes:%n", pipeline, count, 4 * payload);
            for (HopLatency h : result.latency()) out.println("  " + h);
            long[] rt = result.roundTripNanos().clone();
            Arrays.sort(rt);
            out.printf(Locale.ROOT, "  round trip (client → stages → client): median %.1f µs, p99 %.1f µs%n",
                    rt[(rt.length - 1) / 2] / 1e3, rt[(int) Math.ceil(0.99 * rt.length) - 1] / 1e3);
            out.flush();
            return 0;
        } finally {
            ClientNode.leave(system, Duration.ofSeconds(30), spec.commandLine().getErr());
        }
    }
}
