package io.ppsd.actors.cli;

import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.ppsd.actors.client.ActorPipelineDecoder;
import io.ppsd.actors.node.PpsdNode;
import io.ppsd.runtime.speculative.DecodingPlan;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * A PPSD plan run over the actor pipeline in this process: a one-node cluster with one CPU device
 * slot per layer (placement takes one per stage), driven through the gateway like any client
 * would; closing the decoder shuts the node down.
 */
final class EmbeddedCluster {
    private EmbeddedCluster() {}

    static ActorPipelineDecoder start(Path model, DecodingPlan plan) {
        ActorSystem<Void> system = PpsdNode.startAlone(ConfigFactory.parseString(config(model, plan, 0)));
        return new ActorPipelineDecoder(system, null, plan.describe() + " over actors", Duration.ofMinutes(10), () -> stop(system));
    }

    /**
     * The node's configuration: pipeline "default" = the plan, gateway and stage host, one CPU
     * slot of {@code threadsPerStage} cores (0 = one) per layer, any free cluster port.
     */
    static String config(Path model, DecodingPlan plan, int threadsPerStage) {
        String slot = threadsPerStage > 1 ? "x" + threadsPerStage : "";
        if (plan.strategy() == DecodingPlan.Strategy.PIPESPEC) {
            // One device per model of the hierarchy.
            String devices = IntStream.rangeClosed(0, plan.draftModels().size()).mapToObj(i -> "\"cpu:" + i + slot + "\"").collect(Collectors.joining(", "));
            String drafts = plan.draftModels().stream().map(d -> ConfigValueFactory.fromAnyRef(d.toAbsolutePath().toString()).render())
                    .collect(Collectors.joining(", "));
            return """
                    ppsd.pipelines.default { model = %s, draft-models = [%s], verify-window = %d, adaptive-window = %s }
                    ppsd.node { roles = ["gateway", "stage-host"], devices = [%s] }
                    pekko.remote.artery.canonical.port = 0
                    pekko.coordinated-shutdown.exit-jvm = off
                    """.formatted(ConfigValueFactory.fromAnyRef(model.toAbsolutePath().toString()).render(), drafts, plan.draftLength(),
                    plan.adaptiveDraft() ? "on" : "off", devices) + quietLogs();
        }
        // One device per layer (placement takes one per stage), and one per draft model under a PPSD target.
        String devices = IntStream.range(0, plan.numLayers() + plan.draftModels().size()).mapToObj(i -> "\"cpu:" + i + slot + "\"")
                .collect(Collectors.joining(", "));
        int[] sizes = IntStream.range(0, plan.stageCount()).map(k -> plan.stages().layers(k).count()).toArray();
        String drafts = plan.ppsdTarget()
                ? ", target = \"ppsd\", draft-models = [" + plan.draftModels().stream().map(d -> ConfigValueFactory.fromAnyRef(d.toAbsolutePath().toString()).render())
                        .collect(Collectors.joining(", ")) + "], verify-window = " + plan.draftLength()
                : ""; // adaptive-window stays on: it is also the PPSD pipeline's pacing
        String conf = """
                ppsd.pipelines.default { model = "%s", head = "%s", exit-layer = %d, stage-sizes = [%s]%s }
                ppsd.node { roles = ["gateway", "stage-host"], devices = [%s] }
                pekko.remote.artery.canonical.port = 0
                pekko.coordinated-shutdown.exit-jvm = off
                """.formatted(model.toAbsolutePath().toString().replace("\\", "/"), plan.head(), plan.exitLayer(),
                Arrays.stream(sizes).mapToObj(Integer::toString).collect(Collectors.joining(", ")), drafts, devices);
        return conf + quietLogs();
    }

    private static String quietLogs() {
        if (System.getenv("PPSD_LOG") == null) {
            // A one-shot run prints its result; the node's own life (stages loaded, released) is noise here.
            ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("io.ppsd.actors")).setLevel(ch.qos.logback.classic.Level.WARN);
        }
        return "";
    }

    static void stop(ActorSystem<?> system) {
        system.terminate();
        try {
            system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("the embedded node did not stop: " + e.getMessage(), e);
        }
    }
}
