package io.ppsd.actors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.probe.Hop;
import io.ppsd.actors.probe.HopProbe;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.protocol.GenerationEvent;
import io.ppsd.actors.stage.DeviceSlots;
import io.ppsd.actors.stage.StageCommand;
import io.ppsd.actors.stage.StageEntity;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three nodes in one JVM talking over Artery TCP on 127.0.0.1: the stages of 4- and 8-stage PPSD
 * pipelines and the three levels of a PipeSpec hierarchy are spread over the nodes' devices (never
 * two on one device), hidden states and
 * rollbacks cross the network, and the greedy output still equals AR's. The client runs on a node
 * without devices. A test configuration delays every message between stages at random (seeded),
 * so senders interleave in many orders; each stage switches its links to the direct path on the way.
 */
class MultiNodePipelineTest {
    @TempDir
    Path tmp;

    @Test
    void pipelineAcrossNodesEqualsAutoregressive() throws Exception {
        runAcrossNodes(false);
    }

    @Test
    void messageChaosBetweenStagesStillEqualsAutoregressive() throws Exception {
        runAcrossNodes(true);
    }

    private void runAcrossNodes(boolean chaos) throws Exception {
        var model = RandomModel.small(chaos ? 8 : 7);
        Path dir = TestModels.write(model, tmp.resolve("m"), 2, 0.3f);
        for (int kept : new int[] {1, 3}) {
            Path draft = model.writeTruncated(tmp.resolve("m-d" + kept), 2, 0.3f, kept);
            java.nio.file.Files.copy(dir.resolve("tokenizer.json"), draft.resolve("tokenizer.json"));
        }
        String common = """
                ppsd.pipelines.default { model = "%1$s", head = "norm", exit-layer = 2 }
                ppsd.pipelines.eight { model = "%1$s", head = "transformer-l2", stage-sizes = [2, 1, 1, 1, 1, 1, 1] }
                ppsd.pipelines.spec { model = "%1$s", draft-models = ["%1$s-d1", "%1$s-d3"], wait-for-drafts = 1 }
                ppsd.test.chaos { enabled = %2$s, seed = 17, max-delay-micros = 2000 }
                pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
                """.formatted(dir.toString().replace("\\", "/"), chaos);
        List<String> nodes = List.of(
                "ppsd.node { roles = [\"gateway\"], devices = [] }",
                "ppsd.node { roles = [\"stage-host\"], devices = [\"cpu:0\", \"cpu:1\", \"cpu:2\", \"cpu:3\", \"cpu:4\", \"cpu:5\", \"cpu:6\", \"cpu:7\"] }",
                "ppsd.node { roles = [\"stage-host\"], devices = [\"cpu:0\", \"cpu:1\", \"cpu:2\", \"cpu:3\", \"cpu:4\", \"cpu:5\"] }");
        try (var cluster = new LocalCluster(ConfigFactory.parseString(common), nodes)) {
            var client = new PpsdClient(cluster.node(0));
            List<CompletableFuture<GenerationEvent.Completed>> running = new ArrayList<>();
            List<int[]> expected = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                int[] prompt = model.prompt(700 + i, 2 + 11 * i);
                expected.add(TestModels.autoregressive(dir, prompt, 16));
                var params = GenerateParams.greedy(16).withPipeline(List.of("default", "eight", "spec").get(i % 3));
                running.add(client.generate(prompt, params).toCompletableFuture());
            }
            long verified = 0, accepted = 0;
            for (int i = 0; i < running.size(); i++) {
                var done = running.get(i).get(180, TimeUnit.SECONDS);
                assertArrayEquals(expected.get(i), done.tokenIds(), "prompt " + i);
                verified += done.speculation().draftsVerified();
                accepted += done.speculation().draftsAccepted();
            }
            assertTrue(accepted > 0 && accepted < verified, "both verdicts must occur: " + accepted + "/" + verified);
            // Every stage sends to every other stage of its pipeline directly (StageLink), chaos or not.
            var sharding = ClusterSharding.get(cluster.node(0));
            for (var p : Map.of("default", 4, "eight", 7, "spec", 3).entrySet()) {
                for (int k = 0; k < p.getValue(); k++) {
                    var status = sharding.entityRefFor(StageEntity.TYPE_KEY, p.getKey() + "/" + k)
                            .<StageCommand.StageStatus>ask(StageCommand.Status::new, Duration.ofSeconds(5)).toCompletableFuture().get(10, TimeUnit.SECONDS);
                    assertEquals(p.getValue() - 1, status.directLinks(), "direct paths of " + status.stage());
                }
            }
            // 4 + 7 stages and 3 PipeSpec levels on 14 devices: every device of both stage hosts is taken, once.
            String held1 = DeviceSlots.get(cluster.node(1)).describe(), held2 = DeviceSlots.get(cluster.node(2)).describe();
            assertEquals(14, count(held1, "=") + count(held2, "="), held1 + " / " + held2);

            // Placement decides which pipelines span both stage hosts: "eight" may fit on the node
            // with 8 devices, but then "default" and "spec" cannot both fit beside it, so some
            // pipeline spans the two; probe that one. The prober's node hosts no stage, so its
            // hops are always remote.
            String spanning = spanningPipeline(DeviceSlots.get(cluster.node(1)).holders(), DeviceSlots.get(cluster.node(2)).holders());
            int stages = Map.of("default", 4, "eight", 7, "spec", 3).get(spanning);
            var probes = HopProbe.measure(cluster.node(0), new HopProbe.Settings(spanning, 20, 3, 64, Duration.ofSeconds(60)))
                    .toCompletableFuture().get(120, TimeUnit.SECONDS);
            assertEquals(20 * (stages + 2), probes.hops().size());
            assertTrue(probes.hops().stream().filter(h -> !h.betweenStages()).allMatch(Hop::remote));
            assertTrue(probes.hops().stream().anyMatch(h -> h.betweenStages() && h.remote()), "no hop of " + spanning + " crossed nodes");
            assertTrue(probes.hops().stream().allMatch(h -> h.nanos() > 0));
        }
    }

    private static String spanningPipeline(List<String> onFirst, List<String> onSecond) {
        for (String name : List.of("eight", "default", "spec")) {
            boolean first = onFirst.stream().anyMatch(id -> id.startsWith(name + "/"));
            boolean second = onSecond.stream().anyMatch(id -> id.startsWith(name + "/"));
            if (first && second) return name;
        }
        throw new AssertionError("no pipeline spans both stage hosts: " + onFirst + " / " + onSecond);
    }

    private static int count(String s, String part) {
        return s.split(java.util.regex.Pattern.quote(part), -1).length - 1;
    }
}
