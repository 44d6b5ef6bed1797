package io.ppsd.actors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.protocol.GenerationEvent;
import io.ppsd.actors.stage.StageCommand;
import io.ppsd.actors.stage.StageEntity;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * PipeSpec over actors: each model of the hierarchy is a sharded stage entity on a device of its
 * own, proposals and corrections travel as serialized messages through delaying links (message
 * chaos), sessions share the levels. Greedy output equals the target's AR output for concurrent
 * requests on a two- and a three-model hierarchy; sampling requests (distributions on the wire)
 * complete; the HTTP API serves a PipeSpec pipeline like any other; every level frees its
 * sequences. The same for PipeSpec over a PPSD target (the target's PPSD stages, then the draft
 * models as stages of the same pipeline), with stage 0 waiting for the draft model or not.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PipeSpecActorsTest {
    @TempDir
    static Path tmp;
    ServingNode node;
    Path target;

    @BeforeAll
    void start() throws Exception {
        node = ServingNode.start(tmp, """
                ppsd.pipelines.spec2 { model = "%1$s", draft-models = ["%1$s-d1"], verify-window = 3 }
                ppsd.pipelines.spec3 { model = "%1$s", draft-models = ["%1$s-d1", "%1$s-d4"], verify-window = 4, adaptive-window = off, wait-for-drafts = 1 }
                ppsd.pipelines.overppsd { model = "%1$s", head = "norm", exit-layer = 2, draft-models = ["%1$s-d4"], target = "ppsd" }
                ppsd.pipelines.overppsd3 { model = "%1$s", head = "norm", exit-layer = 4, draft-models = ["%1$s-d1", "%1$s-d4"], target = "ppsd",
                                           stage0-waits-for-drafts = off, verify-window = 2 }
                ppsd.node.devices = ["cpu:0", "cpu:1", "cpu:2", "cpu:3", "cpu:4", "cpu:5", "cpu:6", "cpu:7", "cpu:8", "cpu:9", "cpu:10", "cpu:11",
                                     "cpu:12", "cpu:13", "cpu:14", "cpu:15"]
                pekko.actor.serialize-messages = on
                ppsd.test.chaos { enabled = on, seed = 17, max-delay-micros = 1500 }
                """, dir -> {
            for (int kept : new int[] {1, 4}) {
                Path d = ServingNode.MODEL.writeTruncated(dir.resolveSibling(dir.getFileName() + "-d" + kept), 2, 0.5f, kept);
                try {
                    Files.copy(dir.resolve("tokenizer.json"), d.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
        });
        target = node.modelDir;
    }

    @AfterAll
    void stop() {
        node.close();
    }

    @Test
    void greedyOutputEqualsTheTargetsAutoregressiveOutput() throws Exception {
        var client = new PpsdClient(node.system);
        List<CompletableFuture<GenerationEvent.Completed>> running = new ArrayList<>();
        List<int[]> expected = new ArrayList<>();
        List<String> pipelines = List.of("spec2", "spec3", "overppsd", "overppsd3");
        for (int i = 0; i < 12; i++) {
            int[] prompt = ServingNode.MODEL.prompt(700 + i, 1 + 7 * i);
            expected.add(TestModels.autoregressive(target, prompt, 24));
            running.add(client.generate(prompt, GenerateParams.greedy(24).withPipeline(pipelines.get(i % 4))).toCompletableFuture());
        }
        long verified = 0, accepted = 0;
        for (int i = 0; i < running.size(); i++) {
            var done = running.get(i).get(120, TimeUnit.SECONDS);
            assertArrayEquals(expected.get(i), done.tokenIds(), "prompt " + i + " on " + pipelines.get(i % 4));
            verified += done.speculation().draftsVerified();
            accepted += done.speculation().draftsAccepted();
            if (i % 4 < 2) {
                assertTrue(done.speculation().steps() > 0 && done.speculation().steps() <= done.tokenIds().length,
                        "steps are the target's calls: " + done.speculation());
            }
        }
        assertTrue(accepted > 0 && accepted < verified, "both verdicts must occur: " + accepted + "/" + verified);
        assertEquals(0, sequencesOnLevels("spec2", 2) + sequencesOnLevels("spec3", 3) + sequencesOnLevels("overppsd", 5)
                + sequencesOnLevels("overppsd3", 4), "every level freed its sequences");
    }

    @Test
    void samplingRequestsCarryTheDraftDistributionsAndComplete() throws Exception {
        var client = new PpsdClient(node.system);
        for (String p : List.of("spec2", "spec3", "overppsd", "overppsd3")) {
            var params = GenerateParams.builder(20).sampling(0.9f, 3).topK(50).pipeline(p).ignoreEos(true).build();
            var done = client.generate(ServingNode.MODEL.prompt(31, 6), params).toCompletableFuture().get(120, TimeUnit.SECONDS);
            assertEquals(20, done.tokenIds().length, p);
            assertTrue(done.speculation().draftsVerified() > 0, p);
        }
    }

    @Test
    void theHttpApiServesAPipeSpecPipeline() throws Exception {
        String base = node.serve(List.of(), Map.of("tiny-pipespec", "spec3"));
        int[] prompt = ServingNode.MODEL.prompt(77, 5);
        var body = new ObjectMapper().createObjectNode().put("model", "tiny-pipespec").put("max_tokens", 16).put("temperature", 0);
        var ids = body.putArray("prompt");
        for (int t : prompt) ids.add(t);
        var http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        var response = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions")).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), response.body());
        var text = new ObjectMapper().readTree(response.body()).at("/choices/0/text").asText();
        var tokenizer = io.ppsd.runtime.tokenizer.Tokenizer.load(target.resolve("tokenizer.json"));
        assertEquals(tokenizer.decode(TestModels.autoregressive(target, prompt, 16), true), text);
    }

    private int sequencesOnLevels(String pipeline, int levels) throws Exception {
        var sharding = ClusterSharding.get(node.system);
        int total = 0;
        for (int k = 0; k < levels; k++) {
            total += sharding.entityRefFor(StageEntity.TYPE_KEY, pipeline + "/" + k)
                    .<StageCommand.StageStatus>ask(StageCommand.Status::new, Duration.ofSeconds(5)).toCompletableFuture().get(10, TimeUnit.SECONDS)
                    .sequences();
        }
        return total;
    }
}
