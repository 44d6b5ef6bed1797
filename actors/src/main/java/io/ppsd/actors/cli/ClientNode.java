package io.ppsd.actors.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.node.PpsdNode;
import java.nio.file.Files;
import java.nio.file.Path;
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
     * {@code seeds} (host:port; none = the seed nodes of {@code config}) and waits until it is a
     * member ({@code Up}), at most {@code wait}. {@code config} (may be null: plain TCP) is a node
     * file whose transport settings the client takes, e.g. cluster-configs/client.conf for the
     * TLS clusters; its roles, devices and port are replaced.
     */
    static ActorSystem<Void> join(List<String> seeds, Path config, Duration wait) {
        Config base = ConfigFactory.empty();
        if (config != null) {
            if (!Files.isRegularFile(config)) throw new IllegalArgumentException("no config file " + config);
            base = PpsdNode.readFile(config);
        }
        String seedLine = "";
        if (seeds != null && !seeds.isEmpty()) {
            seedLine = "pekko.cluster.seed-nodes = [" + seeds.stream().map(s -> "\"pekko://ppsd@" + s + "\"").collect(Collectors.joining(", ")) + "]";
        } else if (!base.hasPath("pekko.cluster.seed-nodes") || base.getList("pekko.cluster.seed-nodes").isEmpty()) {
            throw new IllegalArgumentException("give the cluster's seed nodes: --seed host:port (or a --config with pekko.cluster.seed-nodes)");
        }
        Config own = ConfigFactory.parseString("""
                ppsd.node { roles = ["client"], devices = [] }
                pekko.remote.artery.canonical.port = 0
                pekko.coordinated-shutdown.exit-jvm = off
                """ + seedLine).withFallback(base);
        ActorSystem<Void> system = PpsdNode.start(own);
        long end = System.nanoTime() + wait.toNanos();
        while (Cluster.get(system).selfMember().status() != MemberStatus.up()) {
            if (System.nanoTime() > end) {
                boolean tls = system.settings().config().getString("pekko.remote.artery.transport").equals("tls-tcp");
                system.terminate();
                throw new IllegalStateException("could not join the cluster through "
                        + system.settings().config().getStringList("pekko.cluster.seed-nodes") + " within " + wait.toSeconds() + " s"
                        + (tls ? " (TLS: is this client's certificate signed by the cluster's CA?)"
                               : " (a cluster that uses TLS needs --config cluster-configs/client.conf and the cluster's keys)"));
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

    /**
     * Leaves the cluster and stops the client's node. The command's work is done by then: a
     * graceful leave that outlasts {@code wait} (a loaded cluster) is reported on {@code err},
     * not turned into a failure of the command; the JVM's exit ends what is left.
     */
    static void leave(ActorSystem<Void> system, Duration wait, java.io.PrintWriter err) {
        system.terminate();
        try {
            system.getWhenTerminated().toCompletableFuture().get(wait.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            err.println("warning: leaving the cluster took longer than " + wait.toSeconds() + " s; exiting anyway");
            err.flush();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException e) {
            err.println("warning: the client's node stopped with " + e.getCause());
        }
    }
}
