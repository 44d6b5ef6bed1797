package io.ppsd.benchmarks.serve;

import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.http.HttpSettings;
import io.ppsd.actors.http.OpenAiServer;
import io.ppsd.actors.node.PpsdNode;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.protocol.GenerationEvent;
import io.ppsd.actors.stage.PipelineRegistry;
import io.ppsd.benchmarks.MachineDescription;
import io.ppsd.benchmarks.report.ResultFiles;
import io.ppsd.benchmarks.suite.PromptSet;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.speculative.DecodingPlan;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * {@code ./ppsd bench --suite serve}: the same PPSD pipeline (simulated devices of the default
 * profile, one per stage, in one JVM) driven through the OpenAI HTTP API and through the actor API
 * side by side, at 1, 4 and 16 concurrent clients, each request streaming a fixed number of
 * tokens. Reports time to first token and inter-token latency (p50, p99) as the client sees them,
 * aggregate throughput, and what the HTTP layer adds per token. The two front ends alternate
 * within each concurrency so drifts of a shared machine hit both.
 */
public record ServeSuite(Path model, boolean quick, Path out, String commandLine, PrintStream console) {
    private static final int[] CONCURRENCY = {1, 4, 16};

    public List<LatencyRow> run() throws Exception {
        ModelConfig config = ModelConfig.read(model.resolve("config.json"));
        var plan = DecodingPlan.resolve(model, config, DecodingPlan.Strategy.PPSD, null, null, null, 0, false);
        int tokens = quick ? 16 : 64;
        int rounds = quick ? 1 : 2;
        PromptSet prompts = PromptSet.load(model, config, 8, 48);
        String devices = IntStream.range(0, plan.stageCount()).mapToObj(k -> "\"simulated:" + k + "\"").collect(Collectors.joining(", "));
        String sizes = IntStream.range(0, plan.stageCount()).mapToObj(k -> Integer.toString(plan.stages().layers(k).count())).collect(Collectors.joining(", "));
        String conf = """
                ppsd.pipelines.default { model = "%s", head = "%s", exit-layer = %d, stage-sizes = [%s] }
                ppsd.node { roles = ["gateway", "stage-host"], devices = [%s] }
                ppsd.gateway { max-running = 64, max-waiting = 64 }
                pekko.remote.artery.canonical.port = 0
                pekko.coordinated-shutdown.exit-jvm = off
                pekko.loglevel = WARNING
                """.formatted(model.toAbsolutePath().toString().replace("\\", "/"), plan.head(), plan.exitLayer(), sizes, devices);
        ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("io.ppsd.actors")).setLevel(ch.qos.logback.classic.Level.WARN);
        var own = ConfigFactory.parseString(conf);
        ActorSystem<Void> system = PpsdNode.startAlone(own);
        List<LatencyRow> rows = new ArrayList<>();
        try {
            var settings = new HttpSettings("127.0.0.1", 0, List.of(), Map.of("bench", "default"), 1 << 20, false);
            int port = OpenAiServer.start(system, settings, new PipelineRegistry(PpsdNode.configure(own))).toCompletableFuture()
                    .get(60, TimeUnit.SECONDS).localAddress().getPort();
            var http = new HttpFront(URI.create("http://127.0.0.1:" + port + "/v1/completions"));
            var actors = new ActorFront(new PpsdClient(system));
            awaitHealthy(port);
            console.printf(Locale.ROOT, "serve suite: %s, %d tokens per request, simulated devices, %d prompts%n", plan.describe(), tokens, prompts.size());
            for (Front f : List.of(actors, http)) measure(f, 1, 4, tokens, prompts); // warm-up: JIT, connections
            for (int c : CONCURRENCY) {
                int requests = Math.max(quick ? c : 2 * c, quick ? 2 : 8);
                List<Sample> a = new ArrayList<>(), h = new ArrayList<>();
                double aSec = 0, hSec = 0;
                for (int r = 0; r < rounds; r++) {
                    var ra = measure(actors, c, requests, tokens, prompts);
                    var rh = measure(http, c, requests, tokens, prompts);
                    a.addAll(ra.samples());
                    h.addAll(rh.samples());
                    aSec += ra.seconds();
                    hSec += rh.seconds();
                }
                for (var row : List.of(row("actors", c, a, aSec), row("http", c, h, hSec))) {
                    rows.add(row);
                    console.printf(Locale.ROOT, "  %-6s c=%-2d %5.1f tok/s  TTFT p50 %6.1f ms p99 %6.1f ms  ITL p50 %5.2f ms p99 %6.2f ms%n",
                            row.frontEnd(), c, row.tokensPerSecond(), row.ttftP50Ms(), row.ttftP99Ms(), row.itlP50Ms(), row.itlP99Ms());
                }
            }
        } finally {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
        write(rows, plan.describe(), tokens);
        return rows;
    }

    private static void awaitHealthy(int port) throws Exception {
        var client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < end) {
            var r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health")).GET().build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() == 200) return;
            Thread.sleep(200);
        }
        throw new IllegalStateException("the pipeline did not become ready within 120 s");
    }

    /** The times one request's tokens reached the client, from the moment it was sent. */
    record Sample(long ttftNanos, long[] gapsNanos, int tokens) {}

    record Round(List<Sample> samples, double seconds) {}

    /** A way to send one streamed request and timestamp its tokens at the client. */
    interface Front {
        Sample generate(int[] prompt, int tokens) throws Exception;
    }

    /** {@code concurrency} clients share {@code requests} requests; wall time from the first send to the last token. */
    private static Round measure(Front front, int concurrency, int requests, int tokens, PromptSet prompts) throws Exception {
        ExecutorService clients = Executors.newFixedThreadPool(concurrency);
        try {
            long t0 = System.nanoTime();
            List<Future<Sample>> running = new ArrayList<>();
            for (int i = 0; i < requests; i++) {
                int[] prompt = prompts.tokens().get(i % prompts.size());
                running.add(clients.submit(() -> front.generate(prompt, tokens)));
            }
            List<Sample> samples = new ArrayList<>();
            for (var f : running) samples.add(f.get(10, TimeUnit.MINUTES));
            return new Round(samples, (System.nanoTime() - t0) / 1e9);
        } finally {
            clients.shutdownNow();
        }
    }

    private static LatencyRow row(String front, int c, List<Sample> samples, double seconds) {
        double[] ttft = samples.stream().mapToDouble(s -> s.ttftNanos() / 1e6).sorted().toArray();
        double[] gaps = samples.stream().flatMapToLong(s -> Arrays.stream(s.gapsNanos())).mapToDouble(g -> g / 1e6).sorted().toArray();
        long tokens = samples.stream().mapToLong(Sample::tokens).sum();
        return new LatencyRow(front, c, samples.size(), tokens, seconds, tokens / seconds, quantile(ttft, 0.5), quantile(ttft, 0.99),
                quantile(gaps, 0.5), quantile(gaps, 0.99));
    }

    static double quantile(double[] sorted, double q) {
        if (sorted.length == 0) return Double.NaN;
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1 < 0 ? 0 : (int) Math.ceil(q * sorted.length) - 1)];
    }

    /** The actor API as a JVM service uses it: {@link PpsdClient}, token events timestamped as they arrive. */
    record ActorFront(PpsdClient client) implements Front {
        @Override
        public Sample generate(int[] prompt, int tokens) throws Exception {
            long[] times = new long[tokens + 1];
            int[] n = {0};
            long start = System.nanoTime();
            client.run(null, prompt, GenerateParams.builder(tokens).ignoreEos(true).build(), e -> {
                if (e instanceof GenerationEvent.Token && n[0] < times.length) times[n[0]++] = System.nanoTime();
            }).toCompletableFuture().get(10, TimeUnit.MINUTES);
            return sample(start, times, n[0]);
        }
    }

    /** The OpenAI HTTP API with streaming: each SSE event timestamped as its line is read. */
    record HttpFront(URI uri, HttpClient client) implements Front {
        HttpFront(URI uri) {
            this(uri, HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build());
        }

        @Override
        public Sample generate(int[] prompt, int tokens) throws Exception {
            String body = "{\"model\": \"bench\", \"prompt\": " + Arrays.toString(prompt) + ", \"max_tokens\": " + tokens
                    + ", \"temperature\": 0, \"ignore_eos\": true, \"stream\": true}";
            long[] times = new long[tokens + 2];
            int n = 0;
            long start = System.nanoTime();
            var response = client.send(HttpRequest.newBuilder(uri).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofLines());
            if (response.statusCode() != 200) throw new IllegalStateException("HTTP " + response.statusCode());
            for (String line : (Iterable<String>) response.body()::iterator) {
                long now = System.nanoTime();
                // Token events carry text; the role chunk ("text":"") and the final chunk (a finish_reason) do not count.
                // Read without a JSON parser: the client's own cost should not weigh on the server's figure.
                if (line.startsWith("data: {") && line.contains("\"finish_reason\":null") && !line.contains("\"text\":\"\"") && n < times.length) {
                    times[n++] = now;
                }
            }
            return sample(start, times, n);
        }
    }

    private static Sample sample(long start, long[] times, int n) {
        if (n == 0) throw new IllegalStateException("no token arrived");
        long[] gaps = new long[n - 1];
        for (int i = 1; i < n; i++) gaps[i - 1] = times[i] - times[i - 1];
        return new Sample(times[0] - start, gaps, n);
    }

    private void write(List<LatencyRow> rows, String plan, int tokens) throws IOException {
        Files.createDirectories(out);
        ResultFiles.writeCsv(out.resolve("results.csv"), rows, LatencyRow.class);
        StringBuilder md = new StringBuilder("Command: `" + commandLine + "`  \nMachine: " + MachineDescription.current() + "  \nPipeline: "
                + plan + " on simulated devices (profile of `ppsd.simulated.profile`), one JVM; " + tokens + " tokens per request, greedy.\n\n");
        md.append("| front end | clients | requests | tokens | tok/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms |\n|---|---|---|---|---|---|---|---|---|\n");
        for (LatencyRow r : rows) {
            md.append(String.format(Locale.ROOT, "| %s | %d | %d | %d | %.1f | %.1f | %.1f | %.2f | %.2f |%n", r.frontEnd(), r.concurrency(), r.requests(),
                    r.tokens(), r.tokensPerSecond(), r.ttftP50Ms(), r.ttftP99Ms(), r.itlP50Ms(), r.itlP99Ms()));
        }
        md.append("\n### What the HTTP layer adds\n\n| clients | ITL p50, HTTP − actors | of a token's time | throughput HTTP / actors |\n|---|---|---|---|\n");
        for (int c : CONCURRENCY) {
            var a = rows.stream().filter(r -> r.frontEnd().equals("actors") && r.concurrency() == c).findFirst();
            var h = rows.stream().filter(r -> r.frontEnd().equals("http") && r.concurrency() == c).findFirst();
            if (a.isEmpty() || h.isEmpty()) continue;
            double added = h.get().itlP50Ms() - a.get().itlP50Ms();
            md.append(String.format(Locale.ROOT, "| %d | %+.3f ms | %+.1f %% | %.3f |%n", c, added, 100 * added / a.get().itlP50Ms(),
                    h.get().tokensPerSecond() / a.get().tokensPerSecond()));
        }
        Files.writeString(out.resolve("results.md"), md);
        ServePlots.write(out, rows);
        console.print(md);
    }
}
