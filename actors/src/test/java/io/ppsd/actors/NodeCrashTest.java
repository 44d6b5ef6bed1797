package io.ppsd.actors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.node.PpsdNode;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.protocol.GenerationEvent;
import io.ppsd.runtime.testing.RandomModel;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three stage-host nodes as separate JVM processes ({@code ppsd node}), the client and gateway in
 * this JVM. While several generations run, one node is killed with SIGKILL. Every session must
 * end within its deadline: completed with exactly AR's tokens (after re-prefilling on the
 * surviving nodes) or failed with a clear reason. Nothing may hang. Once for a PPSD pipeline
 * (stages of one model), once for a PipeSpec one (a draft model and the target, a level each),
 * once for PipeSpec over a PPSD target (two target stages and the draft model).
 */
class NodeCrashTest {
    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"ppsd", "pipespec", "pipespec-over-ppsd"})
    void killingANodeMidGenerationRecoversOrFailsClearly(String kind) throws Exception {
        var model = RandomModel.small(99);
        Path dir = TestModels.write(model, tmp.resolve("m"), 2, 0.3f);
        Path draft = model.writeTruncated(tmp.resolve("m-draft"), 2, 0.3f, 2);
        Files.copy(dir.resolve("tokenizer.json"), draft.resolve("tokenizer.json"));
        String drafts = "draft-models = [\"" + draft.toString().replace("\\", "/") + "\"]";
        String pipeline = switch (kind) {
            case "ppsd" -> "head = \"norm\", exit-layer = 2";
            case "pipespec" -> drafts;
            default -> "head = \"norm\", exit-layer = 4, target = \"ppsd\", " + drafts;
        };
        String common = """
                ppsd.pipelines.default { model = "%s", %s }
                ppsd.session { stall-timeout = 3s, max-rebuilds = 8 }
                ppsd.test.chaos { enabled = true, seed = 5, max-delay-micros = 4000 }
                pekko.cluster.split-brain-resolver.stable-after = 2s
                pekko.cluster.failure-detector.acceptable-heartbeat-pause = 2s
                pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
                """.formatted(dir.toString().replace("\\", "/"), pipeline);
        ActorSystem<Void> client = PpsdNode.start(ConfigFactory.parseString(common + """
                ppsd.node { roles = ["gateway"], devices = [] }
                pekko.remote.artery.canonical.port = 0
                """));
        Cluster cluster = Cluster.get(client);
        cluster.manager().tell(Join.create(cluster.selfMember().address()));
        int seedPort = (Integer) cluster.selfMember().address().getPort().orElseThrow();
        List<Process> nodes = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                Path conf = tmp.resolve("node" + i + ".conf");
                Files.writeString(conf, common + """
                        ppsd.node { roles = ["stage-host"], devices = ["cpu:0", "cpu:1"] }
                        pekko.coordinated-shutdown.exit-jvm = on
                        pekko.remote.artery.canonical.port = 0
                        pekko.cluster.seed-nodes = ["pekko://ppsd@127.0.0.1:%d"]
                        """.formatted(seedPort));
                nodes.add(startNode(conf, tmp.resolve("node" + i + ".log")));
            }
            NodeProcess.awaitMembers(client, 4, 60);

            List<int[]> prompts = new ArrayList<>();
            List<int[]> expected = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                prompts.add(model.prompt(900 + i, 3 + 5 * i));
                expected.add(TestModels.autoregressive(dir, prompts.get(i), 120));
            }
            var pc = new PpsdClient(client);
            var progress = new CountDownLatch(3);
            List<CompletableFuture<GenerationEvent.Completed>> running = new ArrayList<>();
            for (int[] p : prompts) {
                var seen = new AtomicInteger();
                running.add(pc.run(null, p, GenerateParams.greedy(120).withDeadline(90_000), e -> {
                    if (e instanceof GenerationEvent.Token && seen.incrementAndGet() == 8) progress.countDown();
                }).toCompletableFuture());
            }
            assertTrue(progress.await(60, TimeUnit.SECONDS), "generations did not start");
            int victim = nodeHostingAStage(tmp);
            nodes.get(victim).destroyForcibly(); // SIGKILL
            int completed = 0, recovered = 0;
            for (int i = 0; i < running.size(); i++) {
                try {
                    var done = running.get(i).get(110, TimeUnit.SECONDS);
                    assertArrayEquals(expected.get(i), done.tokenIds(), "prompt " + i + " after the crash");
                    completed++;
                    if (done.rebuilds() > 0) recovered++;
                } catch (ExecutionException e) {
                    String reason = e.getCause().getMessage();
                    assertTrue(reason != null && !reason.isBlank(), "a failure must say why");
                    System.err.println("session " + i + " failed clearly: " + reason);
                }
            }
            System.err.println("after SIGKILL: " + completed + " completed (" + recovered + " after rebuilding), " + (3 - completed) + " failed");
            assertTrue(recovered > 0, "no session survived the crash by rebuilding");
            assertFalse(running.stream().anyMatch(f -> !f.isDone()), "a session hung");
        } finally {
            nodes.forEach(Process::destroyForcibly);
            client.terminate();
            client.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }

    /** A node whose log says it loaded a stage (so killing it really breaks pipelines). */
    private static int nodeHostingAStage(Path tmp) throws Exception {
        for (int i = 0; i < 3; i++) {
            if (Files.readString(tmp.resolve("node" + i + ".log")).contains(" loaded stage")) return i;
        }
        throw new IllegalStateException("no node logged a loaded stage");
    }

    private static Process startNode(Path conf, Path log) throws Exception {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        var pb = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-Xss4m", "-Xmx512m", "-XX:+UseSerialGC", "-cp", cp,
                "io.ppsd.actors.cli.PpsdCli", "node", "--config", conf.toString());
        pb.redirectErrorStream(true);
        pb.redirectOutput(log.toFile());
        return pb.start();
    }
}
