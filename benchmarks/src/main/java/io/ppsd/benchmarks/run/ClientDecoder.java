package io.ppsd.benchmarks.run;

import io.ppsd.actors.client.ActorPipelineDecoder;
import io.ppsd.actors.probe.HopProbe;
import io.ppsd.runtime.decode.Decoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.TokenListener;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * An actor pipeline as the harness drives it: generation through {@link ActorPipelineDecoder} (the
 * gateway, as a client service would), hop probes through {@link HopProbe}. Shared by the actor
 * transports; {@code stop} releases what the transport started.
 */
final class ClientDecoder implements Decoder, HopProbing {
    /** Probes per hop measurement (after a discarded warm-up), sent one at a time. */
    /** Probes measured, after PROBE_WARMUP discarded ones: 50 left young node JVMs' hops 2× too slow (see ActorsClusterTransport). */
    private static final int PROBES = 400, PROBE_WARMUP = 2000;

    private final ActorSystem<?> system;
    private final ActorPipelineDecoder decoder;
    private final int jvms;

    ClientDecoder(ActorSystem<?> system, int jvms, Runnable stop) {
        this.system = system;
        this.decoder = new ActorPipelineDecoder(system, PipelineHocon.PIPELINE, "ppsd over actors (" + jvms + " JVMs)", Duration.ofMinutes(10), stop);
        this.jvms = jvms;
    }

    @Override
    public GenerationResult generate(GenerationRequest request, TokenListener listener) {
        return decoder.generate(request, listener);
    }

    @Override
    public String describe() {
        return decoder.describe();
    }

    @Override
    public HopReport hops(int payloadFloats) {
        var settings = new HopProbe.Settings(PipelineHocon.PIPELINE, PROBES, PROBE_WARMUP, payloadFloats, Duration.ofSeconds(30));
        try {
            var result = HopProbe.measure(system, settings).toCompletableFuture().get(5, TimeUnit.MINUTES);
            return new HopReport(jvms, payloadFloats, result.latency(), PROBES);
        } catch (Exception e) {
            throw new IllegalStateException("hop probes failed: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        decoder.close();
    }
}
