package io.ppsd.actors.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Extension;
import org.apache.pekko.actor.typed.ExtensionId;

/**
 * What this node measures about serving, in the Prometheus text format ({@link #scrape()}), with
 * the names operators know from vLLM under a {@code ppsd_} prefix: requests running and waiting,
 * finished requests by reason and failed ones by code, prompt and generated tokens, time to first
 * token and inter-token latency histograms, drafts and accepted drafts (α = their ratio), session
 * rebuilds, and per stage hosted here the busy time (its rate is the busy fraction) and the
 * sequences holding caches. One registry per actor system.
 */
public final class ServingMetrics implements Extension {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final AtomicInteger running = new AtomicInteger();
    private final AtomicInteger waiting = new AtomicInteger();
    private final Counter promptTokens, generationTokens, drafts, accepted, rebuilds;
    private final Timer timeToFirstToken, interTokenLatency;
    private final Map<String, AtomicLong> stageBusyNanos = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> stageSequences = new ConcurrentHashMap<>();

    private ServingMetrics() {
        Gauge.builder("ppsd.num.requests.running", running, AtomicInteger::get).description("Requests generating now").register(registry);
        Gauge.builder("ppsd.num.requests.waiting", waiting, AtomicInteger::get).description("Requests admitted and waiting for room").register(registry);
        promptTokens = Counter.builder("ppsd.prompt.tokens").description("Prompt tokens of finished requests").register(registry);
        generationTokens = Counter.builder("ppsd.generation.tokens").description("Generated tokens of finished requests").register(registry);
        drafts = Counter.builder("ppsd.spec.decode.num.draft.tokens").description("Draft tokens verified").register(registry);
        accepted = Counter.builder("ppsd.spec.decode.num.accepted.tokens").description("Draft tokens accepted").register(registry);
        rebuilds = Counter.builder("ppsd.session.rebuilds").description("Pipeline rebuilds after a lost stage").register(registry);
        timeToFirstToken = Timer.builder("ppsd.time.to.first.token").description("Time to the first token")
                .serviceLevelObjectives(millis(1, 5, 10, 20, 40, 60, 80, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000)).register(registry);
        interTokenLatency = Timer.builder("ppsd.inter.token.latency").description("Time between tokens")
                .serviceLevelObjectives(micros(500, 1000, 2500, 5000, 10000, 25000, 50000, 75000, 100000, 150000, 200000, 300000, 400000,
                        500000, 750000, 1000000)).register(registry);
    }

    private static Duration[] millis(long... ms) {
        return java.util.Arrays.stream(ms).mapToObj(Duration::ofMillis).toArray(Duration[]::new);
    }

    private static Duration[] micros(long... us) {
        return java.util.Arrays.stream(us).mapToObj(u -> Duration.ofNanos(u * 1000)).toArray(Duration[]::new);
    }

    public static ServingMetrics get(ActorSystem<?> system) {
        return Id.INSTANCE.apply(system);
    }

    public AtomicInteger running() {
        return running;
    }

    public AtomicInteger waiting() {
        return waiting;
    }

    public void firstToken(long nanosSinceArrival) {
        timeToFirstToken.record(nanosSinceArrival, TimeUnit.NANOSECONDS);
    }

    public void nextToken(long nanosSincePrevious) {
        interTokenLatency.record(nanosSincePrevious, TimeUnit.NANOSECONDS);
    }

    /** A request that completed: its stop reason ({@code eos}, {@code max_tokens}, …) and counts. */
    public void finished(String reason, int prompt, int generated, long draftsVerified, long draftsAccepted, int rebuildCount) {
        registry.counter("ppsd.request.success", "finished_reason", reason).increment();
        promptTokens.increment(prompt);
        generationTokens.increment(generated);
        drafts.increment(draftsVerified);
        accepted.increment(draftsAccepted);
        rebuilds.increment(rebuildCount);
    }

    /** A request that failed, by code ({@code overloaded}, {@code bad_request}, …). */
    public void failed(String code) {
        registry.counter("ppsd.request.failure", "code", code).increment();
    }

    /** The nanoseconds a stage hosted here spent computing (the stage adds to it; its rate is the busy fraction). */
    public AtomicLong stageBusy(String stage) {
        return stageBusyNanos.computeIfAbsent(stage, s -> {
            var total = new AtomicLong();
            registry.more().counter("ppsd.stage.busy.seconds", java.util.List.of(io.micrometer.core.instrument.Tag.of("stage", s)), total,
                    t -> t.get() / 1e9);
            return total;
        });
    }

    /** The sequences a stage hosted here holds state for (the stage sets it). */
    public AtomicInteger stageSequences(String stage) {
        return stageSequences.computeIfAbsent(stage, s -> {
            var n = new AtomicInteger();
            Gauge.builder("ppsd.stage.sequences", n, AtomicInteger::get).tag("stage", s).description("Sequences with caches on the stage")
                    .register(registry);
            return n;
        });
    }

    /** Everything above in the Prometheus text exposition format. */
    public String scrape() {
        return registry.scrape();
    }

    static final class Id extends ExtensionId<ServingMetrics> {
        static final Id INSTANCE = new Id();

        @Override
        public ServingMetrics createExtension(ActorSystem<?> system) {
            return new ServingMetrics();
        }
    }
}
