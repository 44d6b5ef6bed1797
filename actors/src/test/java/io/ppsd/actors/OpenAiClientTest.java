package io.ppsd.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.http.HttpSettings;
import io.ppsd.actors.http.OpenAiServer;
import io.ppsd.actors.node.PpsdNode;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.stage.PipelineRegistry;
import io.ppsd.actors.stage.StageCommand;
import io.ppsd.actors.stage.StageEntity;
import io.ppsd.runtime.testing.RandomModel;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The official OpenAI client for Node ({@code openai} on npm, pinned in
 * {@code src/test/node/package.json}) drives the HTTP API end to end: the script
 * {@code src/test/node/openai-e2e.mjs} runs its completions and chat, whole and streamed, the model
 * list, a wrong key, an unknown model and a stream it aborts, and reports what the client saw. A
 * client nobody here wrote checks what our own tests cannot: that the SSE framing, the JSON shapes
 * and the error statuses are the ones the real SDK parses and maps to its error classes.
 *
 * <p>Skipped, with the reason, where {@code node} (≥ 20, the SDK's floor) or
 * {@code src/test/node/node_modules} is missing; {@code .ci/run} installs both.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OpenAiClientTest {
    @TempDir
    static Path tmp;
    static final String KEY = "e2e-key";
    static final String MODEL = "tiny";
    static final Path SCRIPT_DIR = Path.of("src/test/node");
    /** The whole script, every request included; it normally takes a few seconds. */
    static final Duration SCRIPT_BOUND = Duration.ofSeconds(120);
    final ObjectMapper json = new ObjectMapper();
    final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
    ServingNode node;
    ActorSystem<Void> system;
    String base;
    /** What the script printed: one JSON object. */
    JsonNode seen;

    /** Why the script cannot run here, or null. */
    String missing;

    @BeforeAll
    void start() throws Exception {
        int nodeVersion = nodeMajorVersion();
        if (nodeVersion == 0) missing = "node is not on the PATH: install Node.js ≥ 20 to run the openai-node end-to-end test";
        else if (nodeVersion < 20) missing = "node " + nodeVersion + " is older than 20, the oldest the openai package supports";
        else if (!Files.isDirectory(SCRIPT_DIR.resolve("node_modules/openai"))) {
            missing = "the openai package is not installed: run npm ci --prefix actors/src/test/node";
        }
        if (missing != null) {
            System.out.println("OpenAiClientTest skipped: " + missing);
            return;
        }

        node = ServingNode.start(tmp, """
                # Stage hops take up to 1.5 ms: a long stream is still running when the client aborts it.
                ppsd.test.chaos { enabled = on, seed = 5, max-delay-micros = 1500 }
                """);
        system = node.system;
        base = node.serve(List.of(KEY), Map.of(MODEL, "default"));
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < end && get("/health").statusCode() != 200) Thread.sleep(200);
        assertEquals(200, get("/health").statusCode(), "the pipeline became ready");
        seen = runScript();
    }

    // Assumed per test, not in @BeforeAll: Surefire would report a class skipped there as no tests at all, without the reason.
    @BeforeEach
    void needsTheScript() {
        Assumptions.assumeTrue(missing == null, missing);
    }

    @AfterAll
    void stop() {
        if (node != null) node.close();
    }

    /** The major version of the {@code node} on the PATH, or 0 when there is none that answers. */
    private static int nodeMajorVersion() {
        try {
            Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return 0;
            }
            String v = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim(); // "v20.20.2"
            return p.exitValue() == 0 && v.matches("v\\d+\\..*") ? Integer.parseInt(v.substring(1, v.indexOf('.'))) : 0;
        } catch (IOException e) {
            return 0;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 0;
        }
    }

    /** Runs the script against this server within {@link #SCRIPT_BOUND}; a script that hangs is killed and fails the test. */
    private JsonNode runScript() throws Exception {
        Path out = tmp.resolve("e2e.out"), err = tmp.resolve("e2e.err");
        var pb = new ProcessBuilder("node", "openai-e2e.mjs", base + "/v1", KEY, MODEL).directory(SCRIPT_DIR.toFile())
                .redirectOutput(out.toFile()).redirectError(err.toFile());
        // The SDK reads OPENAI_* variables (organization, project, base URL): none of the caller's may leak in.
        pb.environment().keySet().removeIf(k -> k.startsWith("OPENAI_"));
        long started = System.nanoTime();
        Process p = pb.start();
        if (!p.waitFor(SCRIPT_BOUND.toSeconds(), TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            fail("openai-e2e.mjs did not finish within " + SCRIPT_BOUND + "; stderr: " + Files.readString(err) + "\nstdout: " + Files.readString(out));
        }
        String stdout = Files.readString(out), stderr = Files.readString(err);
        System.out.printf("openai-e2e.mjs: exit %d after %d ms%n%s%s", p.exitValue(), (System.nanoTime() - started) / 1_000_000, stdout, stderr);
        assertEquals(0, p.exitValue(), "openai-e2e.mjs failed; stderr: " + stderr + "\nstdout: " + stdout);
        List<String> lines = stdout.lines().filter(l -> !l.isBlank()).toList();
        assertTrue(!lines.isEmpty(), "the script printed its results");
        return json.readTree(lines.getLast());
    }

    private HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30)).header("Authorization", "Bearer " + KEY)
                .GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void completionsGiveTheActorApisTokensWholeAndStreamed() throws Exception {
        var expected = new PpsdClient(system).generate("The jury said that", GenerateParams.builder(12).ignoreEos(true).build())
                .toCompletableFuture().get(60, TimeUnit.SECONDS);
        JsonNode whole = seen.get("completion"), streamed = seen.get("completionStream");
        assertEquals("text_completion", whole.get("object").asText());
        assertTrue(whole.get("id").asText().startsWith("cmpl-"), whole.toString());
        assertEquals(MODEL, whole.get("model").asText());
        // ignore_eos went through as an extra body key: all 12 tokens, the same the actor API gives.
        assertEquals(expected.text(), whole.get("text").asText(), "greedy text through the SDK = the actor API's");
        assertEquals(whole.get("text").asText(), streamed.get("text").asText(), "streamed = whole");
        assertEquals("length", whole.get("finishReason").asText());
        assertEquals("length", streamed.get("finishReason").asText());
        assertUsage(whole.get("usage"), expected.promptTokenIds().length, 12);
        assertTrue(streamed.hasNonNull("usage"), "include_usage: the SDK handed over the usage chunk: " + streamed);
        assertEquals(whole.get("usage"), streamed.get("usage"), "the stream's usage = the whole answer's");
        assertTrue(streamed.get("chunks").asInt() >= 3, "the answer came in pieces: " + streamed);
    }

    @Test
    void chatGivesTheTemplatedPromptsTokensWholeAndStreamed() throws Exception {
        // The shipped template renders the script's messages as this text (see HttpApiTest).
        var expected = new PpsdClient(system).generate("<|bos|>Be brief.\n\nUser: Hello there\nAssistant:", GenerateParams.builder(10).ignoreEos(true).build())
                .toCompletableFuture().get(60, TimeUnit.SECONDS);
        JsonNode whole = seen.get("chat"), streamed = seen.get("chatStream");
        assertEquals("chat.completion", whole.get("object").asText());
        assertEquals("assistant", whole.get("role").asText());
        assertEquals(expected.text(), whole.get("content").asText());
        assertEquals(whole.get("content").asText(), streamed.get("content").asText(), "streamed deltas = whole message");
        assertEquals("assistant", streamed.get("role").asText(), "the first delta names the role");
        assertEquals("length", whole.get("finishReason").asText());
        assertEquals("length", streamed.get("finishReason").asText());
        assertUsage(whole.get("usage"), expected.promptTokenIds().length, 10);
    }

    @Test
    void theModelListNamesTheServedModel() {
        List<String> ids = new ArrayList<>();
        seen.get("models").forEach(m -> ids.add(m.asText()));
        assertEquals(List.of(MODEL), ids);
    }

    @Test
    void errorsBecomeTheSdksErrorClasses() {
        for (String request : List.of("wrongKey", "wrongKeyCompletion")) {
            JsonNode e = seen.get(request);
            assertTrue(e.isObject(), request + " was refused: " + e);
            assertEquals("AuthenticationError", e.get("class").asText(), e.toString());
            assertTrue(e.get("authentication").asBoolean(), e.toString());
            assertEquals(401, e.get("status").asInt(), e.toString());
            assertEquals("invalid_api_key", e.get("code").asText(), e.toString());
        }
        JsonNode e = seen.get("unknownModel");
        assertTrue(e.isObject(), "an unknown model was refused: " + e);
        assertEquals("NotFoundError", e.get("class").asText(), e.toString());
        assertTrue(e.get("notFound").asBoolean(), e.toString());
        assertEquals(404, e.get("status").asInt(), e.toString());
        assertEquals("model_not_found", e.get("code").asText(), e.toString());
    }

    @Test
    void anAbortedStreamIsCancelledOnTheServer() throws Exception {
        JsonNode aborted = seen.get("aborted");
        assertTrue(aborted.get("chunks").asInt() >= 2, "the stream was read before the abort: " + aborted);
        assertTrue(aborted.get("finishReason").isNull(), "the stream was cut off before its end: " + aborted);
        // The SDK drops the connection; the server cancels the request and the stages free its caches.
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        int held;
        while ((held = sequencesOnStages()) > 0 && System.nanoTime() < end) Thread.sleep(50);
        assertEquals(0, held, "the stages released the aborted sequence");
        String metrics = get("/metrics").body();
        assertTrue(metrics.contains("ppsd_request_failure_total{code=\"cancelled\"}"),
                "counted as cancelled: " + metrics.lines().filter(l -> l.startsWith("ppsd_request")).toList());
    }

    private static void assertUsage(JsonNode usage, int promptTokens, int completionTokens) {
        assertEquals(promptTokens, usage.get("prompt_tokens").asInt(), usage.toString());
        assertEquals(completionTokens, usage.get("completion_tokens").asInt(), usage.toString());
        assertEquals(promptTokens + completionTokens, usage.get("total_tokens").asInt(), usage.toString());
    }

    private int sequencesOnStages() throws Exception {
        return node.sequencesOnStages();
    }
}
