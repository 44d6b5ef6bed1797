package io.ppsd.actors.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.node.PpsdNode;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code ppsd node}: run one cluster node until it is stopped (SIGTERM leaves the cluster gracefully). */
@Command(name = "node", mixinStandardHelpOptions = true, description = "Run a ppsd cluster node from a config file.")
final class NodeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--config", required = true, description = "HOCON file, e.g. cluster-configs/two-node-a.conf.")
    Path config;

    @Option(names = "--port", description = "Override the node's port (pekko.remote.artery.canonical.port).")
    Integer port;

    @Option(names = "--seed", description = "Override the seed nodes: host:port (repeatable).")
    List<String> seeds;

    @Option(names = "--http-port", description = "Serve the OpenAI-compatible HTTP API on this port (a gateway node; see ppsd.http).")
    Integer httpPort;

    @Option(names = "--probe-port", description = "Answer GET /live and /ready (Up, and every stage on this node loaded) on this port (see ppsd.node.probe).")
    Integer probePort;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (!Files.isRegularFile(config)) throw new IllegalArgumentException("no config file " + config);
        Config own = PpsdNode.readFile(config);
        if (port != null) own = ConfigFactory.parseString("pekko.remote.artery.canonical.port = " + port).withFallback(own);
        if (seeds != null && !seeds.isEmpty()) {
            StringBuilder list = new StringBuilder();
            for (String s : seeds) {
                if (!list.isEmpty()) list.append(", ");
                list.append('"').append("pekko://ppsd@").append(s).append('"');
            }
            own = ConfigFactory.parseString("pekko.cluster.seed-nodes = [" + list + "]").withFallback(own);
        }
        if (httpPort != null) own = ConfigFactory.parseString("ppsd.http { enabled = on, port = " + httpPort + " }").withFallback(own);
        if (probePort != null) own = ConfigFactory.parseString("ppsd.node.probe { enabled = on, port = " + probePort + " }").withFallback(own);
        ActorSystem<Void> system = PpsdNode.start(own);
        Config full = PpsdNode.configure(own);
        if (full.getBoolean("ppsd.node.probe.enabled")) {
            var probe = full.getConfig("ppsd.node.probe");
            var binding = io.ppsd.actors.node.NodeProbe.start(system, probe.getString("interface"), probe.getInt("port"))
                    .toCompletableFuture().get(60, java.util.concurrent.TimeUnit.SECONDS);
            out.println("ppsd node probe on http://" + binding.localAddress().getHostString() + ":" + binding.localAddress().getPort() + "/ready");
        }
        if (full.getBoolean("ppsd.http.enabled")) {
            if (!full.getStringList("ppsd.node.roles").contains("gateway")) {
                system.terminate();
                throw new IllegalArgumentException("the HTTP API runs on a gateway node: add \"gateway\" to ppsd.node.roles");
            }
            var http = io.ppsd.actors.http.HttpSettings.fromConfig(full, full.getString("ppsd.default-pipeline"));
            var binding = io.ppsd.actors.http.OpenAiServer.start(system, http, new io.ppsd.actors.stage.PipelineRegistry(full))
                    .toCompletableFuture().get(60, java.util.concurrent.TimeUnit.SECONDS);
            out.println("ppsd HTTP API on http://" + binding.localAddress().getHostString() + ":" + binding.localAddress().getPort() + "/v1");
        }
        Cluster cluster = Cluster.get(system);
        var up = new java.util.concurrent.CountDownLatch(1);
        system.systemActorOf(org.apache.pekko.actor.typed.javadsl.Behaviors.<ClusterEvent.MemberUp>setup(ctx -> {
            cluster.subscriptions().tell(org.apache.pekko.cluster.typed.Subscribe.create(ctx.getSelf(), ClusterEvent.MemberUp.class));
            return org.apache.pekko.actor.typed.javadsl.Behaviors.receiveMessage(e -> {
                if (e.member().equals(cluster.selfMember()) || e.member().address().equals(cluster.selfMember().address())) up.countDown();
                return org.apache.pekko.actor.typed.javadsl.Behaviors.same();
            });
        }), "up-watch", org.apache.pekko.actor.typed.Props.empty());
        // SIGTERM: Pekko's own JVM shutdown hook runs the coordinated shutdown (the node leaves the
        // cluster gracefully). A hook of ours that waited for termination could deadlock with it.
        // Up, or gone before it saw itself up (downed while joining): then nothing is printed.
        var terminated = system.getWhenTerminated().toCompletableFuture();
        while (!up.await(200, java.util.concurrent.TimeUnit.MILLISECONDS) && !terminated.isDone()) { /* waiting */ }
        if (!terminated.isDone()) {
            out.println("ppsd node up at " + cluster.selfMember().address() + " with roles " + cluster.selfMember().getRoles());
            out.flush();
        }
        system.getWhenTerminated().toCompletableFuture().join();
        return exitStatus(system);
    }

    /** Exit status 3 when the cluster downed this node (a supervisor should restart it), else 0. */
    static int exitStatus(ActorSystem<?> system) {
        var reason = org.apache.pekko.actor.CoordinatedShutdown.get(system).getShutdownReason();
        if (reason.isPresent() && reason.get().equals(org.apache.pekko.actor.CoordinatedShutdown.clusterDowningReason())) {
            System.err.println("ppsd node: downed by the cluster; exiting with status " + DOWNED_EXIT_STATUS);
            return DOWNED_EXIT_STATUS;
        }
        return 0;
    }

    /** The process status of a node the cluster downed. */
    static final int DOWNED_EXIT_STATUS = 3;
}
