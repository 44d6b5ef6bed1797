package io.ppsd.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import java.io.BufferedReader;
import java.io.InputStreamReader;
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
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The OpenAI-compatible HTTP API against a running embedded node, driven with the JDK's HTTP
 * client: completions and chat, whole and streamed, give the actor API's greedy tokens; SSE
 * framing; OpenAI-style errors with their statuses (400, 401, 404, 429, 503 before ready); a
 * client that disconnects mid-stream cancels its request and its caches are released.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HttpApiTest {
    @TempDir
    static Path tmp;
    static final String KEY = "test-key-1";
    final ObjectMapper json = new ObjectMapper();
    // HTTP/1.1: the JDK client would otherwise hold concurrent requests back until an h2c upgrade attempt is answered.
    final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
    ServingNode node;
    ActorSystem<Void> system;
    String base;

    @BeforeAll
    void start() throws Exception {
        node = ServingNode.start(tmp, """
                ppsd.pipelines.nodevice { model = "%1$s", head = "norm", exit-layer = 1, stage-sizes = [1, 1, 1, 1, 1, 1, 1, 1] }
                ppsd.node.devices = ["cpu:0", "cpu:1", "cpu:2", "cpu:3", "cpu:4"]
                ppsd.gateway { max-running = 2, max-waiting = 0 }
                # Every stage hop takes up to 1.5 ms: long requests last long enough to overlap and to be cut off.
                ppsd.test.chaos { enabled = on, seed = 3, max-delay-micros = 1500 }
                """);
        system = node.system;
        base = node.serve(List.of(KEY), Map.of("tiny", "default"));
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < end && get("/health", null).statusCode() != 200) Thread.sleep(200);
        assertEquals(200, get("/health", null).statusCode(), "the pipeline became ready");
        // A second front end serves a pipeline that can never be placed (8 stages, 5 devices): never ready.
        // Started once the first holds its devices (started together, its stages could take them first).
        unreadyBase = node.serve(List.of(), Map.of("big", "nodevice"));
    }

    String unreadyBase;

    @AfterAll
    void stop() {
        node.close();
    }

    private HttpResponse<String> get(String path, String key) throws Exception {
        var b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30)).GET();
        if (key != null) b.header("Authorization", "Bearer " + key);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> post(String root, String path, String body, String key) throws Exception {
        var b = HttpRequest.newBuilder(URI.create(root + path)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) b.header("Authorization", "Bearer " + key);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> post(String path, String body) throws Exception {
        return post(base, path, body, KEY);
    }

    /** The events of an SSE body: the data of each event, in order. */
    private static List<String> events(String body) {
        List<String> data = new ArrayList<>();
        for (String event : body.split("\n\n")) {
            if (event.isBlank()) continue;
            assertTrue(event.startsWith("data: "), "an event is a data line: " + event);
            data.add(event.substring(6));
        }
        return data;
    }

    @Test
    void completionsGiveTheActorApisTokensWholeAndStreamed() throws Exception {
        String prompt = "The jury said that";
        var expected = new PpsdClient(system).generate(prompt, GenerateParams.builder(12).ignoreEos(true).build())
                .toCompletableFuture().get(60, TimeUnit.SECONDS);
        var r = post("/v1/completions", """
                {"model": "tiny", "prompt": "The jury said that", "max_tokens": 12, "temperature": 0, "ignore_eos": true}""");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode whole = json.readTree(r.body());
        assertEquals("text_completion", whole.get("object").asText());
        assertTrue(whole.get("id").asText().startsWith("cmpl-"));
        assertEquals("tiny", whole.get("model").asText());
        assertEquals(expected.text(), whole.get("choices").get(0).get("text").asText());
        assertEquals("length", whole.get("choices").get(0).get("finish_reason").asText());
        assertEquals(expected.promptTokenIds().length, whole.get("usage").get("prompt_tokens").asInt());
        assertEquals(12, whole.get("usage").get("completion_tokens").asInt());
        assertTrue(whole.get("ppsd").get("drafts_verified").asInt() > 0, r.body());

        var s = post("/v1/completions", """
                {"model": "tiny", "prompt": "The jury said that", "max_tokens": 12, "temperature": 0, "ignore_eos": true,
                 "stream": true, "stream_options": {"include_usage": true}}""");
        assertEquals(200, s.statusCode(), s.body());
        assertTrue(s.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"), s.headers().toString());
        List<String> data = events(s.body());
        assertEquals("[DONE]", data.getLast());
        StringBuilder text = new StringBuilder();
        String finish = null;
        JsonNode usage = null;
        for (String d : data.subList(0, data.size() - 1)) {
            JsonNode chunk = json.readTree(d);
            assertEquals(whole.get("object").asText(), chunk.get("object").asText());
            if (chunk.has("usage")) {
                usage = chunk.get("usage");
                assertEquals(0, chunk.get("choices").size(), "the usage chunk has no choices");
                continue;
            }
            JsonNode c = chunk.get("choices").get(0);
            text.append(c.get("text").asText());
            if (!c.get("finish_reason").isNull()) finish = c.get("finish_reason").asText();
        }
        assertEquals(expected.text(), text.toString());
        assertEquals("length", finish);
        assertNotNull(usage, "include_usage sends a usage chunk");
        assertEquals(12, usage.get("completion_tokens").asInt());
    }

    @Test
    void chatUsesTheTemplateAndStreamsDeltas() throws Exception {
        String body = """
                {"model": "tiny", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}],
                 "max_completion_tokens": 10, "temperature": 0, "ignore_eos": true%s}""";
        var whole = post("/v1/chat/completions", body.formatted(""));
        assertEquals(200, whole.statusCode(), whole.body());
        JsonNode w = json.readTree(whole.body());
        assertEquals("chat.completion", w.get("object").asText());
        JsonNode message = w.get("choices").get(0).get("message");
        assertEquals("assistant", message.get("role").asText());
        // The template renders "<|bos|>Be brief.\n\nUser: Hello there\nAssistant:"; the actor API gets the same text.
        var expected = new PpsdClient(system).generate("<|bos|>Be brief.\n\nUser: Hello there\nAssistant:", GenerateParams.builder(10).ignoreEos(true).build())
                .toCompletableFuture().get(60, TimeUnit.SECONDS);
        assertEquals(expected.text(), message.get("content").asText());
        assertEquals(expected.promptTokenIds().length, w.get("usage").get("prompt_tokens").asInt());

        var s = post("/v1/chat/completions", body.formatted(", \"stream\": true"));
        List<String> data = events(s.body());
        assertEquals("[DONE]", data.getLast());
        JsonNode first = json.readTree(data.getFirst());
        assertEquals("chat.completion.chunk", first.get("object").asText());
        assertEquals("assistant", first.get("choices").get(0).get("delta").get("role").asText());
        StringBuilder text = new StringBuilder();
        for (String d : data.subList(0, data.size() - 1)) {
            JsonNode delta = json.readTree(d).get("choices").get(0).get("delta");
            if (delta.has("content")) text.append(delta.get("content").asText());
        }
        assertEquals(expected.text(), text.toString());
    }

    @Test
    void errorsAreOpenAiErrorObjectsWithTheirStatus() throws Exception {
        assertError(post(base, "/v1/completions", "{\"prompt\": \"x\"}", null), 401, "invalid_api_key");
        assertError(post(base, "/v1/completions", "{\"prompt\": \"x\"}", "wrong"), 401, "invalid_api_key");
        assertError(get("/v1/models", null), 401, "invalid_api_key");
        assertEquals(200, get("/health", null).statusCode(), "health needs no key");
        assertError(post("/v1/completions", "{not json"), 400, "bad_request");
        assertError(post("/v1/completions", "{\"prompt\": \"x\", \"n\": 3}"), 400, "bad_request");
        assertError(post("/v1/completions", "{\"prompt\": \"x\", \"temperature\": \"hot\"}"), 400, "bad_request");
        assertError(post("/v1/completions", "{\"prompt\": \"x\", \"logprobs\": 2}"), 400, "bad_request");
        assertError(post("/v1/completions", "{\"prompt\": [5, 99999]}"), 400, "bad_request");
        assertError(post("/v1/completions", "{\"prompt\": \"" + "word ".repeat(200) + "\"}"), 400, "bad_request");
        assertError(post("/v1/completions", "{\"prompt\": \"" + "x".repeat(70_000) + "\"}"), 413, "body_too_large");
        assertError(post("/v1/chat/completions", "{\"messages\": [{\"role\": \"robot\", \"content\": \"hi\"}]}"), 400, "bad_request");
        assertError(post("/v1/completions", "{\"model\": \"gpt-4\", \"prompt\": \"x\"}"), 404, "model_not_found");
        assertError(get("/v1/nothing", KEY), 404, "not_found");
        var models = json.readTree(get("/v1/models", KEY).body());
        assertEquals("tiny", models.get("data").get(0).get("id").asText());
        assertEquals(128, models.get("data").get(0).get("max_model_len").asInt());
        // A pipeline that has no devices for its stages is never ready.
        var health = http.send(HttpRequest.newBuilder(URI.create(unreadyBase + "/health")).GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(503, health.statusCode(), health.body());
        assertError(post(unreadyBase, "/v1/completions", "{\"prompt\": \"x\"}", null), 503, "not_ready");
        assertEquals(200, post("/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 3}").statusCode());
        var metrics = get("/metrics", KEY);
        assertEquals(200, metrics.statusCode());
        for (String name : List.of("ppsd_num_requests_running", "ppsd_num_requests_waiting", "ppsd_prompt_tokens_total",
                "ppsd_generation_tokens_total", "ppsd_time_to_first_token_seconds_bucket", "ppsd_inter_token_latency_seconds_bucket",
                "ppsd_spec_decode_num_draft_tokens_total", "ppsd_spec_decode_num_accepted_tokens_total", "ppsd_stage_busy_seconds_total",
                "ppsd_session_rebuilds_total")) {
            assertTrue(metrics.body().contains(name), name + " in " + metrics.body());
        }
    }

    @Test
    void aNonLoopbackAddressNeedsKeysUnlessExplicitlyAllowed() {
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new HttpSettings("0.0.0.0", 8000, List.of(), Map.of("m", "default"), 1 << 20, false));
        assertTrue(e.getMessage().contains("without API keys"), e.getMessage());
        new HttpSettings("0.0.0.0", 8000, List.of("k"), Map.of("m", "default"), 1 << 20, false);
        new HttpSettings("0.0.0.0", 8000, List.of(), Map.of("m", "default"), 1 << 20, true);
        new HttpSettings("127.0.0.1", 8000, List.of(), Map.of("m", "default"), 1 << 20, false);
    }

    @Test
    void aFullPipelineAnswers429AndServesAgainAfterwards() throws Exception {
        // max-running 2, max-waiting 0: two long streams fill it, the third is refused.
        String longStream = "{\"prompt\": \"The jury\", \"max_tokens\": 100, \"temperature\": 0, \"ignore_eos\": true, \"stream\": true}";
        List<HttpResponse<java.io.InputStream>> streams = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            // The response head comes with the first event: then the request holds its place.
            var r = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions")).header("Authorization", "Bearer " + KEY)
                    .POST(HttpRequest.BodyPublishers.ofString(longStream)).build(), HttpResponse.BodyHandlers.ofInputStream());
            assertEquals(200, r.statusCode());
            streams.add(r);
        }
        var refused = post("/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 2}");
        assertError(refused, 429, "overloaded");
        assertEquals("1", refused.headers().firstValue("Retry-After").orElse(""), "429 says when to retry");
        for (var r : streams) {
            try (var in = r.body()) {
                List<String> data = events(new String(in.readAllBytes(), StandardCharsets.UTF_8));
                assertEquals("[DONE]", data.getLast(), "the admitted streams complete");
            }
        }
        assertEquals(200, post("/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 2}").statusCode(), "serves normally afterwards");
    }

    @Test
    void disconnectingMidStreamCancelsTheRequestAndFreesItsCaches() throws Exception {
        // A raw socket, so that closing it really drops the connection (an HTTP client may drain the body to reuse it).
        String body = "{\"prompt\": \"The jury\", \"max_tokens\": 120, \"temperature\": 0, \"ignore_eos\": true, \"stream\": true}";
        var uri = URI.create(base);
        long cut;
        try (var socket = new java.net.Socket(uri.getHost(), uri.getPort())) {
            var out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + KEY
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body)
                    .getBytes(StandardCharsets.UTF_8));
            out.flush();
            var in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
            assertTrue(in.readLine().contains("200"), "the stream started");
            String line;
            while ((line = in.readLine()) != null && !line.contains("data: ")) { /* headers, chunk sizes */ }
            assertNotNull(line, "a first event arrived");
            assertTrue(sequencesOnStages() > 0, "the request holds caches while it streams");
            cut = System.nanoTime();
        }
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        int held;
        while ((held = sequencesOnStages()) > 0 && System.nanoTime() < end) Thread.sleep(50);
        assertEquals(0, held, "the stages released the cancelled sequence");
        String metrics = get("/metrics", KEY).body();
        assertTrue(metrics.contains("ppsd_request_failure_total{code=\"cancelled\"}"), "counted as cancelled, not finished: "
                + metrics.lines().filter(l -> l.startsWith("ppsd_request")).toList() + " after " + (System.nanoTime() - cut) / 1_000_000 + " ms");
    }

    private int sequencesOnStages() throws Exception {
        return node.sequencesOnStages();
    }

    private void assertError(HttpResponse<String> r, int status, String code) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        JsonNode e = json.readTree(r.body()).get("error");
        assertNotNull(e, r.body());
        assertEquals(code, e.get("code").asText(), r.body());
        assertFalse(e.get("message").asText().isBlank(), r.body());
        assertTrue(e.has("type") && e.has("param"), r.body());
    }
}
