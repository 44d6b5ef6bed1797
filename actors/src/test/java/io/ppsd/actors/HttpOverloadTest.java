package io.ppsd.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.http.HttpSettings;
import io.ppsd.actors.http.OpenAiServer;
import io.ppsd.actors.node.PpsdNode;
import io.ppsd.actors.stage.PipelineRegistry;
import io.ppsd.actors.stage.StageCommand;
import io.ppsd.actors.stage.StageEntity;
import io.ppsd.runtime.testing.RandomModel;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.IntStream;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The HTTP API under a burst of many times the gateway's capacity, on loopback: with 2 running and
 * 2 waiting allowed, bursts of 48 concurrent requests (streamed and whole) each end with either a
 * complete answer or a 429 with an OpenAI error object and {@code Retry-After}, none hangs, the
 * heap does not keep what the burst allocated, the gateway's running and waiting gauges return to
 * 0, the stages hold no caches, and a normal request is served afterwards.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HttpOverloadTest {
    @TempDir
    static Path tmp;
    static final String KEY = "overload-key";
    static final int MAX_RUNNING = 2, MAX_WAITING = 2;
    /** 12 times what the gateway holds (running + waiting) at once. */
    static final int REQUESTS_PER_BURST = 12 * (MAX_RUNNING + MAX_WAITING);
    static final int BURSTS = 3;
    /** Client threads: the requests are asynchronous, these only complete them. */
    static final int CLIENT_THREADS = 8;
    /** A burst, every request to its last byte, ends within this; a hang fails the test instead of stalling the build. */
    static final Duration BURST_BOUND = Duration.ofSeconds(90);
    static final long HEAP_GROWTH_LIMIT = 256L << 20;
    final ObjectMapper json = new ObjectMapper();
    final ExecutorService clientThreads = Executors.newFixedThreadPool(CLIENT_THREADS);
    // HTTP/1.1: the JDK client would otherwise hold concurrent requests back until an h2c upgrade attempt is answered.
    final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).executor(clientThreads)
            .connectTimeout(Duration.ofSeconds(10)).build();
    ServingNode node;
    ActorSystem<Void> system;
    String base;

    @BeforeAll
    void start() throws Exception {
        node = ServingNode.start(tmp, """
                ppsd.gateway { max-running = %d, max-waiting = %d }
                # Every stage hop takes up to 1.5 ms: the requests of a burst overlap.
                ppsd.test.chaos { enabled = on, seed = 11, max-delay-micros = 1500 }
                """.formatted(MAX_RUNNING, MAX_WAITING));
        system = node.system;
        base = node.serve(List.of(KEY), Map.of("tiny", "default"));
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < end && get("/health").statusCode() != 200) Thread.sleep(200);
        assertEquals(200, get("/health").statusCode(), "the pipeline became ready");
    }

    @AfterAll
    void stop() {
        clientThreads.shutdownNow();
        if (node != null) node.close();
    }

    /** One request of a burst: streamed or whole, and how many tokens it asks for. */
    private record Ask(int index, boolean stream, int maxTokens) {
        String body() {
            return "{\"model\": \"tiny\", \"prompt\": \"Request " + index + " says\", \"max_tokens\": " + maxTokens
                    + ", \"temperature\": 0, \"ignore_eos\": true" + (stream ? ", \"stream\": true" : "") + "}";
        }
    }

    @Test
    void burstsOfTwelveTimesTheCapacityEndInAnswersOr429sAndLeaveNothingBehind() throws Exception {
        long heapBefore = heapAfterGc();
        int answered = 0, refused = 0;
        for (int burst = 0; burst < BURSTS; burst++) {
            long started = System.nanoTime();
            int first = burst * REQUESTS_PER_BURST;
            List<Ask> asks = IntStream.range(0, REQUESTS_PER_BURST)
                    .mapToObj(i -> new Ask(first + i, i % 2 == 0, 4 + (i % 5) * 3)).toList();
            List<CompletableFuture<HttpResponse<String>>> responses = new ArrayList<>();
            for (Ask ask : asks) {
                responses.add(http.sendAsync(HttpRequest.newBuilder(URI.create(base + "/v1/completions")).timeout(BURST_BOUND)
                        .header("Authorization", "Bearer " + KEY).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(ask.body())).build(), HttpResponse.BodyHandlers.ofString()));
            }
            try {
                CompletableFuture.allOf(responses.toArray(CompletableFuture[]::new)).get(BURST_BOUND.toSeconds(), TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                List<Integer> open = IntStream.range(0, asks.size()).filter(i -> !responses.get(i).isDone()).boxed().toList();
                fail("requests " + open + " of burst " + burst + " did not end within " + BURST_BOUND);
            }
            int burstAnswered = 0, burstRefused = 0;
            for (int i = 0; i < asks.size(); i++) {
                Ask ask = asks.get(i);
                HttpResponse<String> r = responses.get(i).join();
                switch (r.statusCode()) {
                    case 200 -> {
                        if (ask.stream()) assertCompleteStream(ask, r);
                        else assertCompleteAnswer(ask, r);
                        burstAnswered++;
                    }
                    case 429 -> {
                        assertOverloaded(r);
                        burstRefused++;
                    }
                    default -> fail("request " + ask + " ended with " + r.statusCode() + ": " + r.body());
                }
            }
            System.out.printf("burst %d: %d requests, %d answered, %d refused (429) in %d ms%n", burst, asks.size(), burstAnswered,
                    burstRefused, (System.nanoTime() - started) / 1_000_000);
            answered += burstAnswered;
            refused += burstRefused;
        }
        assertTrue(answered > 0, "some requests were served");
        assertTrue(refused > 0, "some requests were refused");

        // The gauges fall when the sessions have stopped, which may be just after their last byte was sent.
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        String metrics = get("/metrics").body();
        while ((gauge(metrics, "ppsd_num_requests_running") != 0 || gauge(metrics, "ppsd_num_requests_waiting") != 0) && System.nanoTime() < end) {
            Thread.sleep(50);
            metrics = get("/metrics").body();
        }
        assertEquals(0, gauge(metrics, "ppsd_num_requests_running"), "no request still counted as running");
        assertEquals(0, gauge(metrics, "ppsd_num_requests_waiting"), "no request still counted as waiting");
        assertEquals(refused, (int) gauge(metrics, "ppsd_request_failure_total{code=\"overloaded\"}"), "every 429 is a refusal the gateway counted");
        int held;
        while ((held = sequencesOnStages()) > 0 && System.nanoTime() < end) Thread.sleep(50);
        assertEquals(0, held, "the stages hold no caches after the bursts");

        long heapAfter = heapAfterGc();
        System.out.printf("heap used after GC: %d MiB before the bursts, %d MiB after%n", heapBefore >> 20, heapAfter >> 20);
        assertTrue(heapAfter - heapBefore < HEAP_GROWTH_LIMIT, "the heap kept " + ((heapAfter - heapBefore) >> 20) + " MiB of the bursts");

        var normal = post(new Ask(-1, false, 5).body());
        assertEquals(200, normal.statusCode(), normal.body());
        assertCompleteAnswer(new Ask(-1, false, 5), normal);
    }

    private void assertCompleteAnswer(Ask ask, HttpResponse<String> r) throws Exception {
        JsonNode whole = json.readTree(r.body());
        assertEquals("text_completion", whole.path("object").asText(), r.body());
        JsonNode choice = whole.get("choices").get(0);
        assertNotNull(choice.get("text"), r.body());
        assertEquals("length", choice.path("finish_reason").asText(), r.body());
        assertEquals(ask.maxTokens(), whole.get("usage").get("completion_tokens").asInt(), "ignore_eos: all the tokens asked for: " + r.body());
    }

    private void assertCompleteStream(Ask ask, HttpResponse<String> r) throws Exception {
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"), r.headers().toString());
        List<String> data = new ArrayList<>();
        for (String event : r.body().split("\n\n")) {
            if (event.isBlank()) continue;
            assertTrue(event.startsWith("data: "), "an event is a data line: " + event);
            data.add(event.substring(6));
        }
        assertFalse(data.isEmpty(), "request " + ask + " got events");
        assertEquals("[DONE]", data.getLast(), "the stream of " + ask + " ends with [DONE]: " + r.body());
        String finish = null;
        for (String d : data.subList(0, data.size() - 1)) {
            JsonNode chunk = json.readTree(d);
            assertFalse(chunk.has("error"), "no error event in an admitted stream: " + d);
            JsonNode reason = chunk.get("choices").get(0).get("finish_reason");
            if (!reason.isNull()) finish = reason.asText();
        }
        assertEquals("length", finish, "the stream of " + ask + " finished: " + r.body());
    }

    private void assertOverloaded(HttpResponse<String> r) throws Exception {
        JsonNode e = json.readTree(r.body()).get("error");
        assertNotNull(e, r.body());
        assertEquals("overloaded", e.path("code").asText(), r.body());
        assertEquals("rate_limit_error", e.path("type").asText(), r.body());
        assertFalse(e.path("message").asText().isBlank(), r.body());
        assertTrue(e.has("param"), r.body());
        String retry = r.headers().firstValue("Retry-After").orElse("");
        assertTrue(retry.matches("[1-9]\\d*"), "429 says in how many seconds to retry: '" + retry + "'");
    }

    /** The value of a metric without labels, or of one labelled series given with its labels; 0 when absent. */
    private static double gauge(String metrics, String series) {
        return metrics.lines().filter(l -> l.startsWith(series + " ")).mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
                .sum();
    }

    /** Heap in use after a full collection: what is still reachable. */
    private static long heapAfterGc() throws InterruptedException {
        var memory = ManagementFactory.getMemoryMXBean();
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(100);
        }
        return memory.getHeapMemoryUsage().getUsed();
    }

    private HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30)).header("Authorization", "Bearer " + KEY)
                .GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> post(String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions")).timeout(Duration.ofSeconds(60))
                .header("Authorization", "Bearer " + KEY).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Sequences holding caches on the stages of the default pipeline (each stage answers for itself). */
    private int sequencesOnStages() throws Exception {
        return node.sequencesOnStages();
    }
}
