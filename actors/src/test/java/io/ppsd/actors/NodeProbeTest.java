package io.ppsd.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ppsd.actors.stage.StageCommand;
import io.ppsd.actors.stage.StageEntity;
import io.ppsd.runtime.testing.RandomModel;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A stage-host {@code ppsd node} process answers an orchestrator's probes (the JDK's HTTP client
 * asks, as a kubelet would): {@code /live} while it runs, {@code /ready} with 200 once it is Up and
 * the stages placed on its devices have loaded, naming them.
 */
class NodeProbeTest {
    @TempDir
    Path tmp;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void aStageHostIsReadyOnceUpWithItsStagesLoaded() throws Exception {
        var model = RandomModel.small(3);
        Path dir = TestModels.write(model, tmp.resolve("m"), 2, 0.3f);
        String pipeline = "ppsd.pipelines.default { model = \"" + dir.toString().replace("\\", "/") + "\", head = \"norm\", exit-layer = 2 }\n";
        ActorSystem<Void> seed = NodeProcess.startSeed(pipeline);
        int port = NodeProcess.portOf(seed);
        int probePort = NodeProcess.freePort();
        Path conf = tmp.resolve("node.conf");
        Files.writeString(conf, NodeProcess.including("common.conf", pipeline + """
                ppsd.node { roles = ["stage-host"], devices = ["cpu:0", "cpu:1", "cpu:2", "cpu:3"] }
                ppsd.node.probe { enabled = on, interface = "127.0.0.1", port = %d }
                pekko.remote.artery.canonical.port = 0
                pekko.cluster.seed-nodes = ["pekko://ppsd@127.0.0.1:%d"]
                """.formatted(probePort, port)));
        var http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(2)).build();
        try (var node = NodeProcess.start(conf, tmp.resolve("node.log"), Map.of())) {
            assertEquals(200, await(http, probePort, "live", 60).statusCode(), node.output());
            NodeProcess.awaitMembers(seed, 2, 60);
            // Asking the stages starts them: sharding places all four on the node's devices.
            var sharding = ClusterSharding.get(seed);
            for (int k = 0; k < 4; k++) {
                var status = sharding.entityRefFor(StageEntity.TYPE_KEY, "default/" + k)
                        .<StageCommand.StageStatus>ask(StageCommand.Status::new, Duration.ofSeconds(20)).toCompletableFuture().get(30, TimeUnit.SECONDS);
                assertTrue(status.ready(), status.toString());
            }
            var ready = await(http, probePort, "ready", 30);
            assertEquals(200, ready.statusCode(), ready.body());
            JsonNode body = JSON.readTree(ready.body());
            assertEquals("ready", body.get("status").asText());
            assertEquals("Up", body.get("member").asText());
            for (int k = 0; k < 4; k++) assertEquals("loaded", body.get("stages").path("default/" + k).asText(), ready.body());
            assertFalse(body.get("stages").has("default/4"));
        } finally {
            seed.terminate();
            seed.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }

    /** GET {@code /path} until it answers 200 (or the time is up: then its last answer). */
    private static HttpResponse<String> await(HttpClient http, int port, String path, int seconds) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        HttpResponse<String> last = null;
        while (System.nanoTime() < end) {
            try {
                last = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/" + path)).timeout(Duration.ofSeconds(5)).build(),
                        HttpResponse.BodyHandlers.ofString());
                if (last.statusCode() == 200) return last;
                assertEquals(503, last.statusCode(), last.body());
                assertTrue(JSON.readTree(last.body()).has("member"), last.body());
            } catch (java.net.ConnectException notYet) {
                // the node is still starting
            }
            Thread.sleep(200);
        }
        if (last == null) throw new AssertionError("nothing answered on port " + port + " in " + seconds + " s");
        return last;
    }
}
