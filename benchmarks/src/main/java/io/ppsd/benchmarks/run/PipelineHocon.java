package io.ppsd.benchmarks.run;

import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * The benchmarked pipeline as the actor runtime's configuration ({@code ppsd.pipelines.default}),
 * identical on every node of an actor transport: model, head, exit layer, stage cut, window and
 * prefill chunk of the {@link PipelineSetup}. The load rule is off: the harness measures PPSD
 * itself, as the in-process transport runs it (the rule's exploration at one session cost the
 * actor rows 20 % in the transports run of 2026-12-02).
 */
final class PipelineHocon {
    static final String PIPELINE = "default";

    private PipelineHocon() {}

    static String of(PipelineSetup setup) {
        int[] b = setup.plan().boundaries();
        String sizes = IntStream.range(0, b.length - 1).mapToObj(i -> Integer.toString(b[i + 1] - b[i])).collect(Collectors.joining(", "));
        return """
                ppsd.pipelines.%s { model = "%s", head = "%s", exit-layer = %d, stage-sizes = [%s], window = %d, adaptive-window = %s, prefill-chunk = %d, speculation-by-load = off }
                pekko.loglevel = WARNING
                """.formatted(PIPELINE, setup.modelDir().toAbsolutePath().toString().replace("\\", "/"), setup.head(), setup.plan().exitLayer(),
                sizes, setup.window().max(), setup.window().adaptive() ? "on" : "off", setup.prefillChunk());
    }

    /** A HOCON list of quoted strings. */
    static String list(java.util.List<String> items) {
        return items.stream().map(d -> "\"" + d + "\"").collect(Collectors.joining(", ", "[", "]"));
    }
}
