package io.ppsd.benchmarks.run;

import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.node.PpsdNode;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.protocol.GenerationEvent;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.SamplingParams;
import io.ppsd.runtime.decode.SpeculationStats;
import io.ppsd.runtime.decode.StopReason;
import io.ppsd.runtime.decode.Timings;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * The actor pipeline as a benchmark transport: an embedded one-node cluster whose stage entities
 * are placed on the configuration's devices (CPU slots or {@code simulated:k}), driven through the
 * gateway exactly as a client would, every stage message serialized as it would be between nodes
 * only when it crosses one (here: none; the in-JVM hop cost is what is measured).
 */
public final class ActorsTransport implements Transport {
    @Override
    public String name() {
        return "actors";
    }

    @Override
    public boolean opensOwnStages() {
        return true;
    }

    @Override
    public Decoder pipeline(PipelineSetup setup) {
        int[] b = setup.plan().boundaries();
        String sizes = IntStream.range(0, b.length - 1).mapToObj(i -> Integer.toString(b[i + 1] - b[i])).collect(Collectors.joining(", "));
        String devices = setup.devices().stream().map(d -> "\"" + d + "\"").collect(Collectors.joining(", "));
        String conf = """
                ppsd.pipelines.default { model = "%s", head = "%s", exit-layer = %d, stage-sizes = [%s], window = %d, prefill-chunk = %d }
                ppsd.node { roles = ["gateway", "stage-host"], devices = [%s] }
                pekko.remote.artery.canonical.port = 0
                pekko.coordinated-shutdown.exit-jvm = off
                pekko.loglevel = WARNING
                """.formatted(setup.modelDir().toAbsolutePath().toString().replace("\\", "/"), setup.head(), setup.plan().exitLayer(),
                sizes, setup.window(), setup.prefillChunk(), devices);
        ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("io.ppsd.actors")).setLevel(ch.qos.logback.classic.Level.WARN);
        ActorSystem<Void> system = PpsdNode.startAlone(ConfigFactory.parseString(conf));
        var client = new PpsdClient(system);
        return new Decoder() {
            @Override
            public GenerationResult generate(GenerationRequest request) {
                SamplingParams s = request.sampling();
                var params = new GenerateParams(request.maxNewTokens(), s.temperature(), s.topK(), s.topP(), s.repetitionPenalty(),
                        s.seed(), request.stopStrings(), 600_000, null);
                GenerationEvent.Completed done;
                try {
                    done = client.generate(request.prompt(), params).toCompletableFuture().get(10, TimeUnit.MINUTES);
                } catch (Exception e) {
                    throw new IllegalStateException("actor pipeline failed: " + e.getMessage(), e);
                }
                var st = done.stats();
                int n = done.tokenIds().length;
                long promptNanos = (long) (st.promptMillis() * 1e6);
                long generationNanos = st.tokensPerSecond() > 0 ? (long) ((n - 1) * 1e9 / st.tokensPerSecond()) : 0;
                long steps = st.draftsVerified() + (long) (b.length - 2) * (st.draftsVerified() - st.draftsAccepted());
                return new GenerationResult(request.prompt(), done.tokenIds(), StopReason.valueOf(done.stopReason().toUpperCase(Locale.ROOT)),
                        new Timings(request.prompt().length, promptNanos, n, generationNanos),
                        new SpeculationStats(st.draftsVerified(), st.draftsAccepted(), n, steps, st.wastedStageSteps()));
            }

            @Override
            public void close() {
                system.terminate();
                try {
                    system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
                } catch (Exception e) {
                    throw new IllegalStateException("actor system did not stop: " + e.getMessage(), e);
                }
            }
        };
    }
}
