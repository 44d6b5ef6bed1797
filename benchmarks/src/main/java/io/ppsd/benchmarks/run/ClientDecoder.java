package io.ppsd.benchmarks.run;

import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.probe.HopProbe;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.protocol.GenerationEvent;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.SamplingParams;
import io.ppsd.runtime.decode.SpeculationStats;
import io.ppsd.runtime.decode.StopReason;
import io.ppsd.runtime.decode.Timings;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * Generates through an actor pipeline the way a client service does — {@link PpsdClient} against
 * the gateway — and turns the reply into the harness's {@link GenerationResult}. Shared by the
 * actor transports; {@code stop} releases what the transport started.
 */
final class ClientDecoder implements Decoder {
    /** Probes per hop measurement (after a discarded warm-up), sent one at a time. */
    private static final int PROBES = 400, PROBE_WARMUP = 50;

    private final ActorSystem<?> system;
    private final PpsdClient client;
    private final int stages;
    private final int jvms;
    private final Runnable stop;

    ClientDecoder(ActorSystem<?> system, int stages, int jvms, Runnable stop) {
        this.system = system;
        this.client = new PpsdClient(system);
        this.stages = stages;
        this.jvms = jvms;
        this.stop = stop;
    }

    @Override
    public GenerationResult generate(GenerationRequest request) {
        SamplingParams s = request.sampling();
        // The harness asks for a fixed number of tokens (no stop tokens), as AR and the in-process
        // pipeline generate them: the gateway must not stop at the model's end-of-sequence token.
        var params = new GenerateParams(request.maxNewTokens(), s.temperature(), s.topK(), s.topP(), s.repetitionPenalty(),
                s.seed(), request.stopStrings(), 600_000, PipelineHocon.PIPELINE, request.stopTokens().length == 0);
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
        long steps = st.draftsVerified() + (long) (stages - 1) * (st.draftsVerified() - st.draftsAccepted());
        return new GenerationResult(request.prompt(), done.tokenIds(), StopReason.valueOf(done.stopReason().toUpperCase(Locale.ROOT)),
                new Timings(request.prompt().length, promptNanos, n, generationNanos),
                new SpeculationStats(st.draftsVerified(), st.draftsAccepted(), n, steps, st.wastedStageSteps()));
    }

    @Override
    public HopReport hops(int payloadFloats) {
        var settings = new HopProbe.Settings(PipelineHocon.PIPELINE, PROBES, PROBE_WARMUP, payloadFloats, Duration.ofSeconds(30));
        try {
            var result = HopProbe.measure(system, settings).toCompletableFuture().get(5, TimeUnit.MINUTES);
            return new HopReport(jvms, payloadFloats, result.latency());
        } catch (Exception e) {
            throw new IllegalStateException("hop probes failed: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        stop.run();
    }
}
