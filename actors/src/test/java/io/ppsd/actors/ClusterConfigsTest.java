package io.ppsd.actors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.cli.PpsdCli;
import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.node.PpsdNode;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The shipped cluster configurations parse, enable the split-brain resolver, and the two-node one really forms a cluster that serves. */
class ClusterConfigsTest {
    @TempDir
    Path tmp;

    @Test
    void everyNodeConfigIsComplete() throws Exception {
        try (Stream<Path> files = Files.list(Path.of("../cluster-configs"))) {
            // common.conf and tls.conf are included by the node files, not node files themselves.
            List<Path> nodes = files.filter(p -> p.toString().endsWith(".conf")
                    && !List.of("common.conf", "tls.conf").contains(p.getFileName().toString())).toList();
            assertFalse(nodes.isEmpty());
            for (Path f : nodes) {
                Config c = PpsdNode.configure(PpsdNode.readFile(f));
                assertFalse(c.getStringList("pekko.cluster.seed-nodes").isEmpty(), f + " has seed nodes");
                assertEquals("org.apache.pekko.cluster.sbr.SplitBrainResolverProvider", c.getString("pekko.cluster.downing-provider-class"), f.toString());
                assertFalse(c.getStringList("pekko.cluster.roles").isEmpty(), f + " has roles");
                // Only the cluster of one runs plain TCP, on loopback; every config that other nodes connect to runs TLS, both sides authenticated.
                if (f.getFileName().toString().equals("single-node.conf")) {
                    assertEquals("tcp", c.getString("pekko.remote.artery.transport"), f.toString());
                    assertEquals("127.0.0.1", c.getString("pekko.remote.artery.canonical.hostname"), f.toString());
                    assertEquals("", c.getString("pekko.remote.artery.bind.hostname"), f + " binds where it advertises: loopback");
                } else {
                    assertEquals("tls-tcp", c.getString("pekko.remote.artery.transport"), f.toString());
                    assertTrue(c.getBoolean("pekko.remote.artery.ssl.config-ssl-engine.require-mutual-authentication"), f.toString());
                    assertTrue(c.getString("pekko.remote.artery.ssl.config-ssl-engine.key-store").endsWith("/keys/" + c.getString("ppsd.tls.node") + ".p12"), f.toString());
                }
            }
        }
    }

    @Test
    void twoNodeLoopbackClusterServes() throws Exception {
        var model = RandomModel.small(31);
        Path dir = TestModels.write(model, tmp.resolve("m"), 2, 1f);
        // The two-node configs run Artery over TLS: the keys make-cluster-keys.sh made for this test run.
        String keys = ClusterKeys.get().cluster().toString().replace("\\", "/");
        Config override = ConfigFactory.parseString("""
                ppsd.pipelines.default { model = "%s", head = "norm", exit-layer = 2 }
                ppsd.tls.dir = "%s"
                pekko.coordinated-shutdown.exit-jvm = off
                pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
                """.formatted(dir.toString().replace("\\", "/"), keys));
        List<ActorSystem<Void>> systems = new ArrayList<>();
        try {
            for (String n : List.of("a", "b")) {
                Config file = ConfigFactory.parseFile(Path.of("../cluster-configs/two-node-" + n + ".conf").toFile());
                systems.add(PpsdNode.start(override.withFallback(file)));
            }
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (System.nanoTime() < end && upMembers(systems.get(0)) < 2) Thread.sleep(100);
            int[] prompt = model.prompt(4, 6);
            var done = new PpsdClient(systems.get(0)).generate(prompt, GenerateParams.greedy(10)).toCompletableFuture().get(60, TimeUnit.SECONDS);
            assertArrayEquals(TestModels.autoregressive(dir, prompt, 10), done.tokenIds());

            // `ppsd probe` joins as a third member (the shipped client.conf: TLS, the client's key) and times the pipeline's hops.
            Path clientConf = tmp.resolve("client.conf");
            Files.writeString(clientConf, NodeProcess.including("client.conf", "ppsd.tls.dir = \"" + keys + "\"\n"));
            var out = new java.io.StringWriter();
            var err = new java.io.StringWriter();
            int code = PpsdCli.run(new java.io.PrintWriter(out), new java.io.PrintWriter(err), "probe", "--config", clientConf.toString(),
                    "--seed", "127.0.0.1:25521", "--count", "30", "--warmup", "5", "--payload", "16");
            assertEquals(0, code, err.toString());
            assertTrue(out.toString().contains("30 probes of 64 bytes") && out.toString().contains(" hops: ")
                    && out.toString().contains("round trip"), out.toString());
        } finally {
            for (var s : systems) s.terminate();
            for (var s : systems) s.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }

    /** A TLS node whose stores are missing or unusable fails at start, before it listens, with one message naming the file. */
    @Test
    void aTlsNodeWithoutUsableKeysFailsAtStartWithOneClearMessage() throws Exception {
        Path conf = tmp.resolve("a.conf");
        Path noKeys = tmp.resolve("no-keys");
        Files.writeString(conf, NodeProcess.including("two-node-a.conf", "ppsd.tls.dir = \"" + noKeys.toString().replace("\\", "/") + "\"\n"));
        var out = new java.io.StringWriter();
        var err = new java.io.StringWriter();
        int code = PpsdCli.run(new java.io.PrintWriter(out), new java.io.PrintWriter(err), "node", "--config", conf.toString());
        assertEquals(1, code, out + "" + err);
        String message = err.toString().strip();
        assertEquals(1, message.lines().count(), message);
        assertTrue(message.startsWith("error: TLS key store " + noKeys.resolve("node-a.p12").toAbsolutePath() + " does not exist")
                && message.contains("cluster-configs/make-cluster-keys.sh") && message.contains("PPSD_TLS_DIR"), message);

        // Read from its file, a node looks for its keys in the keys/ folder beside the file, wherever it is started from.
        Config file = PpsdNode.configure(PpsdNode.readFile(Path.of("../cluster-configs/two-node-b.conf")));
        assertEquals(Path.of("../cluster-configs/keys/node-b.p12").toAbsolutePath().normalize().toString(),
                Path.of(file.getString("pekko.remote.artery.ssl.config-ssl-engine.key-store")).normalize().toString());
        assertEquals("tls-tcp", file.getString("pekko.remote.artery.transport"));
        assertTrue(file.getBoolean("pekko.remote.artery.ssl.config-ssl-engine.require-mutual-authentication"));

        var keys = ClusterKeys.get();
        // A key signed by another CA than the trust store's: this node could never connect.
        var mixed = ConfigFactory.parseString("""
                pekko.remote.artery.ssl.config-ssl-engine.key-store = "%s"
                pekko.remote.artery.ssl.config-ssl-engine.trust-store = "%s"
                """.formatted(keys.intruder().resolve("node-b.p12").toString().replace("\\", "/"),
                keys.cluster().resolve("truststore.p12").toString().replace("\\", "/"))).withFallback(file);
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> PpsdNode.start(mixed));
        assertTrue(e.getMessage().contains("is not signed by a CA in trust store"), e.getMessage());
        // A wrong password.
        var wrong = ConfigFactory.parseString("ppsd.tls { dir = \"%s\", password = \"not-the-password\" }"
                .formatted(keys.cluster().toString().replace("\\", "/"))).withFallback(PpsdNode.readFile(Path.of("../cluster-configs/two-node-b.conf")));
        e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> PpsdNode.start(wrong));
        assertTrue(e.getMessage().contains("does not open with the configured password"), e.getMessage());
    }

    private static int upMembers(ActorSystem<Void> system) {
        int up = 0;
        for (var m : Cluster.get(system).state().getMembers()) if (m.status() == MemberStatus.up()) up++;
        return up;
    }
}
