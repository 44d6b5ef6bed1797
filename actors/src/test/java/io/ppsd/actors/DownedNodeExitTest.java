package io.ppsd.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Down;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A {@code ppsd node} process that the cluster downs exits promptly, with status 3, so that its
 * supervisor restarts it (it used to stop listening and hang until SIGKILL: its shutdown hook
 * waited for the actor system that Pekko's exit was waiting for).
 */
class DownedNodeExitTest {
    @TempDir
    Path tmp;

    @Test
    void aDownedNodeProcessExitsWithStatus3() throws Exception {
        ActorSystem<Void> seed = NodeProcess.startSeed("");
        Cluster cluster = Cluster.get(seed);
        int port = NodeProcess.portOf(seed);
        Path conf = tmp.resolve("node.conf");
        // The shipped common settings, as a deployed node has them.
        Files.writeString(conf, "include \"" + Path.of("../cluster-configs/common.conf").toAbsolutePath().toString().replace("\\", "/") + "\"\n" + """
                ppsd.node { roles = ["stage-host"], devices = ["cpu:0"] }
                pekko.remote.artery.canonical.port = 0
                pekko.cluster.seed-nodes = ["pekko://ppsd@127.0.0.1:%d"]
                """.formatted(port));
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process node = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-Xmx256m", "-XX:+UseSerialGC", "-cp", cp, "io.ppsd.actors.cli.PpsdCli", "node",
                "--config", conf.toString()).redirectErrorStream(true).redirectOutput(tmp.resolve("node.log").toFile()).start();
        try {
            Address other = null;
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (other == null && System.nanoTime() < end) {
                // Down it as soon as it is a member, joining or up: a node downed before it saw itself up must exit too.
                for (var m : cluster.state().getMembers()) {
                    if (!m.address().equals(cluster.selfMember().address())) other = m.address();
                }
                Thread.sleep(100);
            }
            assertTrue(other != null, "the node joined: " + Files.readString(tmp.resolve("node.log")));
            long t0 = System.nanoTime();
            cluster.manager().tell(new Down(other));
            assertTrue(node.waitFor(30, TimeUnit.SECONDS), "a downed node exits by itself: " + Files.readString(tmp.resolve("node.log")));
            assertEquals(3, node.exitValue(), Files.readString(tmp.resolve("node.log")));
            System.err.println("downed node exited with 3 after " + (System.nanoTime() - t0) / 1_000_000 + " ms");
        } finally {
            node.destroyForcibly();
            seed.terminate();
            seed.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }
}
