package io.ppsd.benchmarks.run;

import io.ppsd.runtime.decode.Decoder;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

/**
 * How the stages of a PPSD pipeline talk to each other: the extension point through which another
 * runtime (the Pekko actor pipeline) is measured with the same configurations, devices, prompts
 * and reports ({@code --transport in-process,actors}). Implementations register in
 * {@code META-INF/services/io.ppsd.benchmarks.run.Transport} and are chosen by {@link #name()}.
 *
 * <p>A transport either drives the executors the harness opened ({@link PipelineSetup#opened()};
 * it must not close them), or, when {@link #opensOwnStages()}, places its stages itself on the
 * devices named in {@link PipelineSetup#devices()} (for simulated devices through the
 * {@code simulated} stage backend) and releases them when its decoder is closed.
 */
public interface Transport {
    String name();

    /** True when the transport opens its stages from device names; the harness then opens none. */
    default boolean opensOwnStages() {
        return false;
    }

    Decoder pipeline(PipelineSetup setup);

    /** This transport with the option after its name ({@code name:option}, e.g. {@code actors-hosts:100}). */
    default Transport withOption(String option) {
        throw new IllegalArgumentException("transport '" + name() + "' takes no option, got '" + option + "'");
    }

    /** The transport {@code name}, or {@code name:option}. */
    static Transport named(String spec) {
        int colon = spec.indexOf(':');
        String name = colon < 0 ? spec : spec.substring(0, colon);
        List<String> known = new ArrayList<>();
        for (Transport t : ServiceLoader.load(Transport.class)) {
            if (t.name().equals(name)) return colon < 0 ? t : t.withOption(spec.substring(colon + 1));
            known.add(t.name());
        }
        throw new IllegalArgumentException("no transport '" + name + "' on the classpath (available: " + known + ")");
    }
}
