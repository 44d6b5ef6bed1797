package io.ppsd.actors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.node.PpsdNode;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.protocol.GenerationEvent;
import io.ppsd.runtime.testing.RandomModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shipped two-node configs over Artery TLS with mutual authentication, as two {@code ppsd node}
 * processes with keys from {@code make-cluster-keys.sh}, and a client in this JVM: they form the
 * cluster and serve; the malformed frame that makes a plain-TCP Pekko 1.7.0 node spin is refused by
 * the TLS handshake; a node whose certificate another CA signed never becomes a member.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class TlsClusterTest {
    @TempDir
    static Path tmp;

    private static final RandomModel MODEL = RandomModel.small(47);
    private static ClusterKeys.Dirs keys;
    private static Path modelDir;
    private static int portA;
    private static int portB;
    private static final List<NodeProcess> nodes = new ArrayList<>();
    private static ActorSystem<Void> client;
    private static int[] prompt;
    private static int[] reference;

    @BeforeAll
    static void startCluster() throws Exception {
        keys = ClusterKeys.get();
        modelDir = TestModels.write(MODEL, tmp.resolve("m"), 2, 1f);
        prompt = MODEL.prompt(5, 6);
        reference = TestModels.autoregressive(modelDir, prompt, 10);
        portA = NodeProcess.freePort();
        portB = NodeProcess.freePort();
        nodes.add(node("two-node-a.conf", "a", portA, Map.of("PPSD_TLS_DIR", keys.cluster().toString())));
        nodes.add(node("two-node-b.conf", "b", portB, Map.of("PPSD_TLS_DIR", keys.cluster().toString())));
        client = tlsClient();
        // Both nodes and the client itself Up, as the client sees it.
        Set<Integer> all = Set.of(portA, portB, selfPort(client));
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (!upPorts(client).containsAll(all) && System.nanoTime() < end) Thread.sleep(200);
        assertTrue(upPorts(client).containsAll(all), "the TLS cluster formed: " + upPorts(client)
                + "\n--- a:\n" + nodes.get(0).output() + "\n--- b:\n" + nodes.get(1).output());
    }

    @AfterAll
    static void stopCluster() throws Exception {
        // The node processes first (killed if they do not stop), then the client: its graceful
        // leave has short phase timeouts (tlsClient), and a slow one is not what this test checks.
        try {
            NodeProcess.closeAll(nodes);
        } finally {
            if (client != null) stopQuietly(client);
        }
    }

    @Test
    @Order(1)
    void twoTlsNodesFormTheClusterAndServeAGeneration() throws Exception {
        assertEquals(Set.of(portA, portB, selfPort(client)), upPorts(client));
        assertArrayEquals(reference, generate().tokenIds());
    }

    @Test
    @Order(2)
    void craftedFramesOnTheTlsPortLeaveTheNodeServing() throws Exception {
        NodeProcess a = nodes.get(0);
        generate(); // stages loaded: what follows measures the node at rest
        Thread.sleep(1000);
        long linesBefore = a.lines();
        // The payload that makes a plain-TCP Pekko 1.7.0 node spin on it forever (CraftedFrames).
        int sent = CraftedFrames.send(portA, 300);
        assertTrue(sent > 0, "the frames reached the port");
        Thread.sleep(3000); // the refused handshakes are done
        double busy = a.busy(Duration.ofSeconds(4));
        long added = a.lines() - linesBefore;
        System.err.printf("TLS node after %d crafted frames: %d log lines, %.1f%% of a core at rest%n", sent, added, 100 * busy);
        // Unpatched Pekko 1.7.0 over plain TCP: ~60k log lines a second and a busy core, forever.
        assertTrue(busy < 0.3, "the node is at rest after the frames: " + 100 * busy + " % of a core");
        assertTrue(added < 100, "the frames did not flood the log: " + added + " lines\n" + a.output());
        assertTrue(a.process.isAlive());
        // Still serving, and still admitting: a request completes with the same tokens, a new client joins.
        assertArrayEquals(reference, generate().tokenIds());
        ActorSystem<Void> late = tlsClient();
        try {
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
            while (Cluster.get(late).selfMember().status() != MemberStatus.up() && System.nanoTime() < end) Thread.sleep(100);
            assertEquals(MemberStatus.up(), Cluster.get(late).selfMember().status(), "a new client joined after the frames");
        } finally {
            stopQuietly(late);
        }
    }

    /**
     * Stops a client's actor system without making its graceful leave part of the test: under load
     * its coordinated shutdown can outlast any wait here, and it is not what these tests check.
     */
    private static void stopQuietly(ActorSystem<Void> system) throws Exception {
        system.terminate();
        try {
            system.getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            System.err.println("TlsClusterTest: a client's actor system did not stop within 60 s (left to the JVM's exit)");
        }
    }

    @Test
    @Order(3)
    void aNodeWithACertificateFromAnotherCaNeverJoins() throws Exception {
        int portI = NodeProcess.freePort();
        // The shipped node-b config with the intruder's node-b key (its own CA), trusting the cluster's CA
        // too: only the cluster's check of the intruder's certificate can keep it out.
        try (NodeProcess intruder = node("two-node-b.conf", "intruder", portI, Map.of("PPSD_TLS_DIR", keys.intruder().toString(),
                "PPSD_TLS_TRUSTSTORE", keys.intruderTrustStore().toString()))) {
            boolean refused = intruder.awaitOutput("SSLHandshakeException", Duration.ofSeconds(60));
            assertTrue(refused, "the intruder's connections are refused in the TLS handshake:\n" + intruder.output());
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (System.nanoTime() < end) {
                assertFalse(memberPorts(client).contains(portI), "the intruder is no member: " + memberPorts(client));
                Thread.sleep(200);
            }
            assertEquals(Set.of(portA, portB, selfPort(client)), memberPorts(client), "the members are the legitimate ones");
            assertFalse(intruder.output().contains("ppsd node up"), intruder.output());
            assertTrue(intruder.process.isAlive(), "the intruder is still trying (and failing): " + intruder.output());
            // The cluster still serves with its own members (no stage went anywhere else).
            assertArrayEquals(reference, generate().tokenIds());
        }
    }

    private static GenerationEvent.Completed generate() throws Exception {
        return new PpsdClient(client).generate(prompt, GenerateParams.greedy(10)).toCompletableFuture().get(120, TimeUnit.SECONDS);
    }

    private static NodeProcess node(String shipped, String name, int port, Map<String, String> env) throws IOException {
        Path conf = tmp.resolve(name + ".conf");
        Files.writeString(conf, NodeProcess.including(shipped, """
                ppsd.pipelines.default { model = "%s", head = "norm", exit-layer = 2 }
                pekko.remote.artery.canonical.port = %d
                pekko.cluster.seed-nodes = ["pekko://ppsd@127.0.0.1:%d"]
                # A loaded 2-core test machine: no false unreachability.
                pekko.cluster.failure-detector.acceptable-heartbeat-pause = 10s
                """.formatted(modelDir.toString().replace("\\", "/"), port, portA)));
        return NodeProcess.start(conf, tmp.resolve(name + ".log"), env);
    }

    /** A client member in this JVM with the cluster's client key (the shipped client.conf). */
    private static ActorSystem<Void> tlsClient() {
        return PpsdNode.start(ConfigFactory.parseString("""
                pekko.cluster.seed-nodes = ["pekko://ppsd@127.0.0.1:%d"]
                ppsd.tls.dir = "%s"
                pekko.cluster.failure-detector.acceptable-heartbeat-pause = 10s
                pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
                pekko.coordinated-shutdown.default-phase-timeout = 3s
                pekko.coordinated-shutdown.phases.cluster-leave.timeout = 3s
                pekko.coordinated-shutdown.phases.cluster-exiting.timeout = 3s
                """.formatted(portA, keys.cluster().toString().replace("\\", "/")))
                .withFallback(PpsdNode.readFile(Path.of("../cluster-configs/client.conf"))));
    }

    private static int selfPort(ActorSystem<Void> system) {
        return (Integer) Cluster.get(system).selfMember().address().getPort().orElseThrow();
    }

    private static Set<Integer> upPorts(ActorSystem<Void> system) {
        Set<Integer> ports = new TreeSet<>();
        for (var m : Cluster.get(system).state().getMembers()) {
            if (m.status() == MemberStatus.up()) ports.add((Integer) m.address().getPort().orElseThrow());
        }
        return ports;
    }

    private static Set<Integer> memberPorts(ActorSystem<Void> system) {
        Set<Integer> ports = new TreeSet<>();
        for (var m : Cluster.get(system).state().getMembers()) ports.add((Integer) m.address().getPort().orElseThrow());
        return ports;
    }
}
