package io.ppsd.actors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.node.PpsdNode;
import io.ppsd.actors.probe.Hop;
import io.ppsd.actors.probe.HopProbe;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.protocol.GenerationEvent;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The actor pipeline in one JVM (a cluster of one node, every message serialized as if remote):
 * greedy output equals AR for many prompts and several pipelines (stage counts, heads), with
 * concurrent sessions sharing the stages.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SingleNodePipelineTest {
    @TempDir
    static Path tmp;
    RandomModel model = RandomModel.small(42);
    Path dir;
    ActorSystem<Void> system;

    @BeforeAll
    void start() {
        dir = TestModels.write(model, tmp.resolve("m"), 2, 0.3f);
        String conf = """
                ppsd.pipelines.default { model = "%1$s", head = "norm", exit-layer = 2 }
                ppsd.pipelines.two { model = "%1$s", head = "transformer-l2", stage-sizes = [2, 6] }
                ppsd.pipelines.eight { model = "%1$s", head = "norm", exit-layer = 1, stage-sizes = [1, 1, 1, 1, 1, 1, 1, 1] }
                ppsd.pipelines.linear { model = "%1$s", head = "linear-l2", stage-sizes = [2, 3, 3] }
                ppsd.node.devices = ["cpu:0", "cpu:1", "cpu:2", "cpu:3", "cpu:4", "cpu:5", "cpu:6", "cpu:7",
                                     "cpu:8", "cpu:9", "cpu:10", "cpu:11", "cpu:12", "cpu:13", "cpu:14", "cpu:15", "cpu:16", "cpu:17"]
                pekko.remote.artery.canonical.port = 0
                pekko.actor.serialize-messages = on
                """.formatted(dir.toString().replace("\\", "/"));
        system = PpsdNode.startAlone(ConfigFactory.parseString(conf));
    }

    @AfterAll
    void stop() {
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().join();
    }

    @Test
    void greedyOutputEqualsAutoregressive() throws Exception {
        var client = new PpsdClient(system);
        List<CompletableFuture<GenerationEvent.Completed>> running = new ArrayList<>();
        List<int[]> expected = new ArrayList<>();
        List<String> pipelines = List.of("default", "two", "eight", "linear");
        for (int i = 0; i < 8; i++) {
            int[] prompt = model.prompt(500 + i, 1 + 7 * i);
            expected.add(TestModels.autoregressive(dir, prompt, 20));
            var params = GenerateParams.greedy(20).withPipeline(pipelines.get(i % pipelines.size()));
            running.add(client.generate(prompt, params).toCompletableFuture());
        }
        for (int i = 0; i < running.size(); i++) {
            var done = running.get(i).get(120, TimeUnit.SECONDS);
            assertArrayEquals(expected.get(i), done.tokenIds(), "prompt " + i + " on " + pipelines.get(i % pipelines.size()));
            assertEquals(expected.get(i).length, done.timings().generatedTokens());
            assertTrue(done.speculation().draftsVerified() > 0, "drafts were verified");
        }
    }

    @Test
    void probesMeasureEveryHopOfThePipeline() throws Exception {
        var settings = new HopProbe.Settings("eight", 40, 5, 128, Duration.ofSeconds(60));
        var result = HopProbe.measure(system, settings).toCompletableFuture().get(120, TimeUnit.SECONDS);
        // Per cycle: prober → 0, seven hidden-state hops 0 → 1 … 6 → 7, the verdict hop 7 → 0, 0 → prober.
        assertEquals(40 * 10, result.hops().size());
        assertEquals(40 * 8, result.hops().stream().filter(Hop::betweenStages).count());
        for (int k = 0; k < 8; k++) {
            int from = k, to = (k + 1) % 8;
            assertEquals(40, result.hops().stream().filter(h -> h.from() == from && h.to() == to).count(), "hop " + from + " → " + to);
        }
        assertTrue(result.hops().stream().allMatch(h -> !h.remote() && h.nanos() > 0), "one node: every hop local and forward in time");
        var latency = result.latency();
        assertEquals(1, latency.size());
        assertEquals("local", latency.getFirst().kind());
        assertEquals(320, latency.getFirst().count());
        assertTrue(latency.getFirst().medianMicros() <= latency.getFirst().p99Micros());
        for (long rt : result.roundTripNanos()) assertTrue(rt > 0);
    }

    @Test
    void ignoreEosGeneratesTheWholeBudget() throws Exception {
        // A prompt whose greedy continuation (no stop tokens, AR outside the actors) holds EOS (id 1) early.
        int[] prompt = null, full = null;
        try (var files = io.ppsd.runtime.model.ModelFiles.open(dir);
             var whole = new io.ppsd.runtime.cpu.CpuStageExecutor(files, io.ppsd.runtime.stage.StageSpec.whole(files.config().numLayers()), 1,
                     io.ppsd.runtime.model.LoadProgress.NONE)) {
            var ar = new io.ppsd.runtime.decode.AutoregressiveDecoder(whole);
            for (int i = 0; i < 3000 && prompt == null; i++) {
                int[] p = model.prompt(5000 + i, 4);
                int[] out = ar.generate(io.ppsd.runtime.decode.GenerationRequest.greedy(p, 24), io.ppsd.runtime.decode.TokenListener.NONE).generated();
                if (java.util.stream.IntStream.range(0, 20).anyMatch(k -> out[k] == 1)) {
                    prompt = p;
                    full = out;
                }
            }
        }
        assertTrue(prompt != null, "no prompt of the random model produces EOS early");
        var client = new PpsdClient(system);
        var stopped = client.generate(prompt, GenerateParams.greedy(24)).toCompletableFuture().get(60, TimeUnit.SECONDS);
        assertArrayEquals(TestModels.autoregressive(dir, prompt, 24), stopped.tokenIds(), "stops at EOS by default");
        assertTrue(stopped.tokenIds().length < 24 && stopped.stopReason() == io.ppsd.runtime.decode.StopReason.EOS, String.valueOf(stopped.stopReason()));
        var whole = client.generate(prompt, GenerateParams.greedy(24).withIgnoreEos(true)).toCompletableFuture().get(60, TimeUnit.SECONDS);
        assertArrayEquals(full, whole.tokenIds(), "with ignoreEos: the whole budget, EOS included as a token");
    }

    @Test
    void tokensStreamInOrderBeforeCompletion() throws Exception {
        var client = new PpsdClient(system);
        List<GenerationEvent> events = new ArrayList<>();
        int[] prompt = model.prompt(9, 5);
        var done = client.run(null, prompt, GenerateParams.greedy(12), e -> {
            synchronized (events) {
                events.add(e);
            }
        }).toCompletableFuture().get(60, TimeUnit.SECONDS);
        synchronized (events) {
            assertEquals(13, events.size());
            for (int i = 0; i < 12; i++) {
                var t = (GenerationEvent.Token) events.get(i);
                assertEquals(i, t.index());
                assertEquals(done.tokenIds()[i], t.tokenId());
            }
            assertTrue(events.get(12) instanceof GenerationEvent.Completed);
        }
    }
}
