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
            List<Path> nodes = files.filter(p -> p.toString().endsWith(".conf") && !p.getFileName().toString().equals("common.conf")).toList();
            assertFalse(nodes.isEmpty());
            for (Path f : nodes) {
                Config c = PpsdNode.configure(ConfigFactory.parseFile(f.toFile()));
                assertFalse(c.getStringList("pekko.cluster.seed-nodes").isEmpty(), f + " has seed nodes");
                assertEquals("org.apache.pekko.cluster.sbr.SplitBrainResolverProvider", c.getString("pekko.cluster.downing-provider-class"), f.toString());
                assertFalse(c.getStringList("pekko.cluster.roles").isEmpty(), f + " has roles");
            }
        }
    }

    @Test
    void twoNodeLoopbackClusterServes() throws Exception {
        var model = RandomModel.small(31);
        Path dir = TestModels.write(model, tmp.resolve("m"), 2, 1f);
        Config override = ConfigFactory.parseString("""
                ppsd.pipelines.default { model = "%s", head = "norm", exit-layer = 2 }
                pekko.coordinated-shutdown.exit-jvm = off
                pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
                """.formatted(dir.toString().replace("\\", "/")));
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

            // `ppsd probe` joins as a third member and times the pipeline's hops.
            var out = new java.io.StringWriter();
            var err = new java.io.StringWriter();
            int code = PpsdCli.run(new java.io.PrintWriter(out), new java.io.PrintWriter(err), "probe", "--seed", "127.0.0.1:25521",
                    "--count", "30", "--warmup", "5", "--payload", "16");
            assertEquals(0, code, err.toString());
            assertTrue(out.toString().contains("30 probes of 64 bytes") && out.toString().contains(" hops: ")
                    && out.toString().contains("round trip"), out.toString());
        } finally {
            for (var s : systems) s.terminate();
            for (var s : systems) s.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }

    private static int upMembers(ActorSystem<Void> system) {
        int up = 0;
        for (var m : Cluster.get(system).state().getMembers()) if (m.status() == MemberStatus.up()) up++;
        return up;
    }
}
