package io.ppsd.actors;


import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.node.PpsdNode;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
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

            SessionsThroughAFault.check(client, model, dir, 900, "SIGKILL", () -> nodes.get(nodeHostingAStage(tmp)).destroyForcibly());
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
