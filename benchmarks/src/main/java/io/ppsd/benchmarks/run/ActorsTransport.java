package io.ppsd.benchmarks.run;

import com.typesafe.config.ConfigFactory;
import io.ppsd.runtime.decode.Decoder;
import io.ppsd.actors.node.PpsdNode;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * The actor pipeline in one JVM: an embedded one-node cluster whose stage entities are placed on
 * the configuration's devices (CPU slots or {@code simulated:k}), driven through the gateway
 * exactly as a client would. Messages between stages are not serialized (none crosses a node):
 * what is measured is the in-JVM hop — sharding, mailbox, dispatcher. {@link ActorsClusterTransport}
 * measures the same pipeline spread over several JVMs.
 */
public final class ActorsTransport implements Transport {
    @Override
    public String name() {
        return "actors";
    }

    @Override
    public boolean opensOwnStages() {
        return true;
    }

    @Override
    public Decoder pipeline(PipelineSetup setup) {
        String conf = PipelineHocon.of(setup) + """
                ppsd.node { roles = ["gateway", "stage-host"], devices = %s }
                pekko.remote.artery.canonical.port = 0
                pekko.coordinated-shutdown.exit-jvm = off
                """.formatted(PipelineHocon.list(setup.devices()));
        ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("io.ppsd.actors")).setLevel(ch.qos.logback.classic.Level.WARN);
        ActorSystem<Void> system = PpsdNode.startAlone(ConfigFactory.parseString(conf));
        return new ClientDecoder(system, 1, () -> terminate(system));
    }

    static void terminate(ActorSystem<?> system) {
        system.terminate();
        try {
            system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("actor system did not stop: " + e.getMessage(), e);
        }
    }
}
