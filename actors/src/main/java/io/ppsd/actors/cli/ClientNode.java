package io.ppsd.actors.cli;

import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.node.PpsdNode;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.pekko.actor.typed.ActorSystem;

/** A member of a running ppsd cluster that hosts nothing: what {@code ppsd client} and {@code ppsd probe} join as. */
final class ClientNode {
    private ClientNode() {}

    /** Starts a node with role {@code client} on a free port and joins the cluster through {@code seeds} (host:port). */
    static ActorSystem<Void> join(List<String> seeds) {
        String seedList = seeds.stream().map(s -> "\"pekko://ppsd@" + s + "\"").collect(Collectors.joining(", "));
        return PpsdNode.start(ConfigFactory.parseString("""
                ppsd.node { roles = ["client"], devices = [] }
                pekko.remote.artery.canonical.port = 0
                pekko.cluster.seed-nodes = [%s]
                pekko.coordinated-shutdown.exit-jvm = off
                """.formatted(seedList)));
    }
}
