package io.ppsd.actors.cli;

import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.node.PpsdNode;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;

/** A member of a running ppsd cluster that hosts nothing: what {@code ppsd client} and {@code ppsd probe} join as. */
final class ClientNode {
    private ClientNode() {}

    /**
     * Starts a node with role {@code client} on a free port, joins the cluster through
     * {@code seeds} (host:port) and waits until it is a member ({@code Up}), at most {@code wait}.
     */
    static ActorSystem<Void> join(List<String> seeds, Duration wait) {
        String seedList = seeds.stream().map(s -> "\"pekko://ppsd@" + s + "\"").collect(Collectors.joining(", "));
        ActorSystem<Void> system = PpsdNode.start(ConfigFactory.parseString("""
                ppsd.node { roles = ["client"], devices = [] }
                pekko.remote.artery.canonical.port = 0
                pekko.cluster.seed-nodes = [%s]
                pekko.coordinated-shutdown.exit-jvm = off
                """.formatted(seedList)));
        long end = System.nanoTime() + wait.toNanos();
        while (Cluster.get(system).selfMember().status() != MemberStatus.up()) {
            if (System.nanoTime() > end) {
                system.terminate();
                throw new IllegalStateException("could not join the cluster through " + seeds + " within " + wait.toSeconds() + " s");
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                system.terminate();
                throw new IllegalStateException("interrupted while joining the cluster");
            }
        }
        return system;
    }
}
