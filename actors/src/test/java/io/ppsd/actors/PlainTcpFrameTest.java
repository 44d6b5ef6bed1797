package io.ppsd.actors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.node.InboundFrameLimit;
import io.ppsd.actors.node.PpsdNode;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The malformed frame on plain TCP (single-node.conf, the development config): Pekko 1.7.0's framing
 * spins on it forever; ppsd's replacement of {@code TcpFraming} bounds the frame length and closes
 * the connection, so the node stays at rest and keeps serving.
 */
class PlainTcpFrameTest {
    @TempDir
    Path tmp;

    /**
     * ppsd's TcpFraming is the one on the class path, and Pekko is the version it was written
     * against: a newer Pekko may carry the upstream bound (apache/pekko#3492), then drop the copy.
     */
    @Test
    void theBoundedFramingReplacesPekkos() {
        assertTrue(InboundFrameLimit.patched(), "org.apache.pekko.remote.artery.tcp.TcpFraming is ppsd's (actors' classes before pekko-remote)");
        assertEquals("1.7.0", org.apache.pekko.Version.current(),
                "Pekko changed: check whether it bounds inbound frame lengths (apache/pekko#3492) and remove or update "
                        + "actors/src/main/java/org/apache/pekko/remote/artery/tcp/TcpFraming.java");
    }

    @Test
    void craftedFramesOnAPlainTcpNodeLeaveItServing() throws Exception {
        var model = RandomModel.small(53);
        Path dir = TestModels.write(model, tmp.resolve("m"), 2, 1f);
        int[] prompt = model.prompt(3, 6);
        int[] reference = TestModels.autoregressive(dir, prompt, 10);
        int port = NodeProcess.freePort();
        Path conf = tmp.resolve("node.conf");
        Files.writeString(conf, NodeProcess.including("single-node.conf", """
                ppsd.pipelines.default { model = "%s", head = "norm", exit-layer = 2 }
                pekko.remote.artery.canonical.port = %d
                pekko.cluster.seed-nodes = ["pekko://ppsd@127.0.0.1:%d"]
                pekko.cluster.failure-detector.acceptable-heartbeat-pause = 10s
                """.formatted(dir.toString().replace("\\", "/"), port, port)));
        try (NodeProcess node = NodeProcess.start(conf, tmp.resolve("node.log"), Map.of())) {
            assertTrue(node.awaitOutput("ppsd node up", Duration.ofSeconds(60)), node.output());
            ActorSystem<Void> client = plainClient(port);
            try {
                awaitUp(client);
                assertArrayEquals(reference, generate(client, prompt));
                Thread.sleep(1000);
                long linesBefore = node.lines();
                int sent = CraftedFrames.send(port, 300);
                assertTrue(sent > 0, "the frames reached the port");
                Thread.sleep(2000);
                double busy = node.busy(Duration.ofSeconds(4));
                long added = node.lines() - linesBefore;
                System.err.printf("plain-TCP node after %d crafted frames: %d log lines, %.1f%% of a core at rest%n", sent, added, 100 * busy);
                // Unpatched: ~60k log lines a second and a busy core, forever.
                assertTrue(busy < 0.3, "the node is at rest after the frames: " + 100 * busy + " % of a core");
                assertTrue(added < 100, "the frames did not flood the log: " + added + " lines\n" + node.output());
                assertArrayEquals(reference, generate(client, prompt), "still serving");
                ActorSystem<Void> late = plainClient(port);
                try {
                    awaitUp(late);
                } finally {
                    late.terminate();
                    late.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
                }
            } finally {
                client.terminate();
                client.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
            }
        }
    }

    private static int[] generate(ActorSystem<Void> client, int[] prompt) throws Exception {
        return new PpsdClient(client).generate(prompt, GenerateParams.greedy(10)).toCompletableFuture().get(120, TimeUnit.SECONDS).tokenIds();
    }

    private static ActorSystem<Void> plainClient(int port) {
        return PpsdNode.start(ConfigFactory.parseString("""
                ppsd.node { roles = ["client"], devices = [] }
                pekko.remote.artery.canonical.port = 0
                pekko.cluster.seed-nodes = ["pekko://ppsd@127.0.0.1:%d"]
                pekko.cluster.failure-detector.acceptable-heartbeat-pause = 10s
                pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
                pekko.coordinated-shutdown.exit-jvm = off
                """.formatted(port)));
    }

    private static void awaitUp(ActorSystem<Void> system) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (Cluster.get(system).selfMember().status() != MemberStatus.up() && System.nanoTime() < end) Thread.sleep(100);
        assertEquals(MemberStatus.up(), Cluster.get(system).selfMember().status(), "the client joined");
    }
}
