package io.ppsd.actors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.node.PpsdNode;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.stage.StageCommand;
import io.ppsd.actors.stage.StageMessageSerializer;
import io.ppsd.runtime.decode.SamplingParams;
import io.ppsd.runtime.ppsd.PipelineMessage;
import io.ppsd.runtime.testing.RandomModel;
import java.io.NotSerializableException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/** Bad requests get a clear Failed reply, malformed messages are refused, and the node keeps serving. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class BadInputTest {
    @TempDir
    static Path tmp;
    RandomModel model = RandomModel.small(3);
    Path dir;
    ActorSystem<Void> system;
    PpsdClient client;

    @BeforeAll
    void start() {
        dir = TestModels.write(model, tmp.resolve("m"), 2, 1f);
        system = PpsdNode.startAlone(ConfigFactory.parseString("""
                ppsd.pipelines.default { model = "%1$s", head = "norm", exit-layer = 2 }
                ppsd.pipelines.impossible { model = "%1$s", head = "norm", exit-layer = 2, stage-sizes = [2, 2, 2] }
                ppsd.pipelines.missing { model = "%2$s" }
                ppsd.pipelines.badhead { model = "%1$s", head = "no-such-head" }
                ppsd.node.devices = ["cpu:0", "cpu:1", "cpu:2", "cpu:3"]
                # Slow hops (a few ms) so that a cancel always lands while its request runs.
                ppsd.test.chaos { enabled = true, seed = 3, max-delay-micros = 3000 }
                pekko.remote.artery.canonical.port = 0
                """.formatted(dir.toString().replace("\\", "/"), tmp.resolve("nothing").toString().replace("\\", "/"))));
        client = new PpsdClient(system);
    }

    @AfterAll
    void stop() {
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().join();
    }

    private String failure(int[] ids, String text, GenerateParams params) {
        var e = assertThrows(ExecutionException.class, () -> client.run(text, ids, params, ev -> {}).toCompletableFuture().get(30, TimeUnit.SECONDS));
        return e.getCause().getMessage();
    }

    @Test
    void badRequestsFailClearlyAndTheNodeKeepsServing() throws Exception {
        int[] ok = model.prompt(1, 6);
        assertTrue(failure(ok, null, GenerateParams.greedy(5).withPipeline("nope")).contains("unknown pipeline 'nope'"));
        assertTrue(failure(ok, null, GenerateParams.greedy(5).withPipeline("impossible")).contains("boundaries must run from 0 to 8"));
        assertTrue(failure(ok, null, GenerateParams.greedy(5).withPipeline("missing")).contains("config.json"));
        assertTrue(failure(ok, null, GenerateParams.greedy(5).withPipeline("badhead")).contains("no such exit head"));
        assertTrue(failure(new int[] {1, 2, 999}, null, GenerateParams.greedy(5)).contains("token id 999 outside the vocabulary"));
        assertTrue(failure(new int[] {1, -4}, null, GenerateParams.greedy(5)).contains("token id -4"));
        assertTrue(failure(new int[300], null, GenerateParams.greedy(5)).contains("does not fit the context of 256"));
        assertTrue(failure(new int[0], null, GenerateParams.greedy(5)).contains("empty"));
        assertTrue(failure(ok, "and text", GenerateParams.greedy(5)).contains("exactly one of text and tokenIds"));
        assertTrue(failure(ok, null, GenerateParams.greedy(-1)).contains("maxTokens"));
        assertTrue(failure(ok, null, GenerateParams.builder(5).sampling(-2f, 1).build()).contains("temperature"));
        assertTrue(failure(ok, null, GenerateParams.greedy(5).withDeadline(0)).contains("deadline"));
        // Still serving: a good request after all of that matches AR.
        var done = client.generate(ok, GenerateParams.greedy(10)).toCompletableFuture().get(60, TimeUnit.SECONDS);
        assertArrayEquals(TestModels.autoregressive(dir, ok, 10), done.tokenIds());
    }

    @Test
    void cancelEndsARequestAndTheDeadlineIsEnforced() throws Exception {
        String reason = failure(model.prompt(2, 4), null, GenerateParams.greedy(200).withDeadline(1));
        assertTrue(reason.contains("deadline of 1 ms exceeded"), reason);

        var request = client.start(null, model.prompt(3, 4), GenerateParams.greedy(240), e -> {});
        request.cancel();
        var e = assertThrows(ExecutionException.class, () -> request.result().toCompletableFuture().get(30, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().contains("cancelled"), e.getCause().getMessage());
    }

    @Test
    void malformedStageMessagesAreRefused() throws Exception {
        var serializer = new StageMessageSerializer((ExtendedActorSystem) Adapter.toClassic(system));
        var params = new PipelineMessage.SequenceParams(new int[] {1, 2, 3}, 10, SamplingParams.greedy(), new int[] {1},
                io.ppsd.runtime.ppsd.DraftWindow.adaptive(4));
        var hidden = new PipelineMessage.Hidden(7, 1, 3, 3, 1, new float[] {1f, 2f, 3f, 4f}, 5, null, params);
        byte[] bytes = serializer.toBinary(new StageCommand.Deliver(hidden, null));
        var back = (StageCommand.Deliver) serializer.fromBinary(bytes, serializer.manifest(hidden));
        var h = (PipelineMessage.Hidden) back.message();
        assertArrayEquals(hidden.hidden(), h.hidden());
        assertArrayEquals(params.prompt(), h.params().prompt());
        assertEquals(params.window(), h.params().window());
        for (int cut : List.of(0, 3, 9, bytes.length / 2, bytes.length - 1)) {
            byte[] truncated = java.util.Arrays.copyOf(bytes, cut);
            assertThrows(NotSerializableException.class, () -> serializer.fromBinary(truncated, "D1"), "cut at " + cut);
        }
        byte[] garbage = bytes.clone();
        garbage[4] = 99; // the message type byte (after a 4-byte empty session length)
        assertThrows(NotSerializableException.class, () -> serializer.fromBinary(garbage, "D1"));
        assertThrows(NotSerializableException.class, () -> serializer.fromBinary(bytes, "X"));
    }

    @Test
    void probesSurviveSerializationAndMalformedOnesAreRefused() throws Exception {
        var serializer = new StageMessageSerializer((ExtendedActorSystem) Adapter.toClassic(system));
        org.apache.pekko.actor.typed.ActorRef<StageCommand.Probe> replyTo = system.ignoreRef();
        var probe = new StageCommand.Probe(3, new float[] {0.5f, -1f}, List.of(new StageCommand.Probe.Stamp(-1, "pekko://ppsd@127.0.0.1:1", 0, 11),
                new StageCommand.Probe.Stamp(0, "pekko://ppsd@127.0.0.1:2", 12, 13)), replyTo);
        byte[] bytes = serializer.toBinary(probe);
        assertEquals("P1", serializer.manifest(probe));
        var back = (StageCommand.Probe) serializer.fromBinary(bytes, "P1");
        assertEquals(probe.id(), back.id());
        assertArrayEquals(probe.payload(), back.payload());
        assertEquals(probe.trail(), back.trail());
        for (int cut : List.of(0, 5, bytes.length / 2, bytes.length - 1)) {
            byte[] truncated = java.util.Arrays.copyOf(bytes, cut);
            assertThrows(NotSerializableException.class, () -> serializer.fromBinary(truncated, "P1"), "cut at " + cut);
        }
        byte[] longer = java.util.Arrays.copyOf(bytes, bytes.length + 1);
        assertThrows(NotSerializableException.class, () -> serializer.fromBinary(longer, "P1"));
    }
}
