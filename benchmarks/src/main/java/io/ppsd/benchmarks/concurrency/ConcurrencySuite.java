package io.ppsd.benchmarks.concurrency;

import io.ppsd.benchmarks.MachineDescription;
import io.ppsd.benchmarks.RepoLayout;
import io.ppsd.benchmarks.model.ModelChoice;
import io.ppsd.benchmarks.model.RandomLlama;
import io.ppsd.benchmarks.report.ResultFiles;
import io.ppsd.benchmarks.run.DeviceSpec;
import io.ppsd.benchmarks.run.StageOpener;
import io.ppsd.benchmarks.suite.PromptSet;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.ppsd.DraftWindow;
import io.ppsd.runtime.ppsd.InProcessPipeline;
import io.ppsd.runtime.simulated.DeviceProfiles;
import io.ppsd.runtime.simulated.PrecisePause;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * {@code ./ppsd bench --suite concurrency}: many sessions at once on one pipeline (the in-process
 * transport, stage 0 batching every ready sequence into one call per step). Three modes, chosen
 * per request on the same stages: plain pipelined decoding (one position in flight per session),
 * PPSD (the default adaptive draft window) and PPSD adapting to load ({@code SpeculationByLoad});
 * at 1, 2, 4, 8, 16 and 32 concurrent sessions; on simulated devices of the default profile (the
 * shipped model cut into 4 and into 8 stages) and on this machine's cores (a random ~240 M
 * parameter model at 2 stages, whose drafts are mostly wrong). Modes alternate within each
 * concurrency so drifts hit all three. {@code slowMotion} slows the simulated devices (ratios kept).
 */
public record ConcurrencySuite(Path shippedModel, RepoLayout repo, boolean quick, double slowMotion, int requestsPerSession, Path out, String commandLine,
        PrintStream console) {

    private record Setup(String name, Path model, DeviceSpec device, int exitLayer, String head, int tokens) {}

    public List<ConcurrencyRow> run() throws Exception {
        var profiles = DeviceProfiles.load();
        // In slow motion (every simulated time ×k) the padding stays above the host's real computation
        // of up to 32 rows per call on 4–8 stage threads sharing this machine's cores; tokens/s are ÷k.
        var sim = new DeviceSpec.Simulated(profiles.defaultOne().slowedBy(slowMotion), 1, new PrecisePause(TimeUnit.NANOSECONDS.convert(profiles.spin())));
        int simTokens = quick || slowMotion > 1 ? 16 : 32;
        int cores = Runtime.getRuntime().availableProcessors();
        Path big = ModelChoice.generated(repo, RandomLlama.random240m(), shippedModel);
        List<Setup> setups = List.of(
                new Setup("sim:" + profiles.defaultOne().name() + ", ppsd-mini, 4 stages", shippedModel, sim, 4, "transformer-l4", simTokens),
                new Setup("sim:" + profiles.defaultOne().name() + ", ppsd-mini, 8 stages", shippedModel, sim, 2, "transformer-l2", simTokens),
                new Setup("cpu, random-240m, 2 stages", big, new DeviceSpec.CpuCompute(cores), 8, "norm", quick ? 6 : 12));
        int[] concurrency = quick ? new int[] {1, 4, 16} : new int[] {1, 2, 4, 8, 16, 32};
        List<ConcurrencyRow> rows = new ArrayList<>();
        for (Setup setup : setups) {
            ModelConfig config = ModelConfig.read(setup.model().resolve("config.json"));
            PromptSet prompts = PromptSet.load(setup.model(), config, 8, 48);
            try (var files = ModelFiles.open(setup.model());
                 var stages = new StageOpener(files, setup.device()).pipeline(setup.exitLayer(), setup.head());
                 var pipeline = new InProcessPipeline(stages.executors(), 32, InProcessPipeline.Chaos.NONE)) {
                int s = stages.executors().size();
                Map<String, DraftWindow> modes = new java.util.LinkedHashMap<>();
                modes.put("pipelined", DraftWindow.fixed(1));
                modes.put("ppsd", DraftWindow.defaultFor(s));
                modes.put("ppsd, by load", DraftWindow.defaultFor(s).withLoadAdaptation());
                console.printf(Locale.ROOT, "%s (%d stages, head %s), %d tokens per request%n", setup.name(), s, setup.head(), setup.tokens());
                for (var w : modes.values()) measure(pipeline, w, 2, 2, 8, prompts); // warm-up
                // The load rule measures each mode at a load for 1.5 s or more before it trusts it; a server
                // has seen its loads before, so the measured points start from a rule that has: by-load
                // sessions at each concurrency for WARM_UP_SECONDS (both measurements, the first order's
                // re-check 8 s later, and the tails).
                for (int c : concurrency) warmUp(pipeline, modes.get("ppsd, by load"), c, setup.tokens(), prompts);
                for (int c : concurrency) {
                    for (var mode : modes.entrySet()) {
                        int requests = Math.max(requestsPerSession * c, quick ? 2 : 4);  // each session runs about requestsPerSession requests
                        var row = measure(setup.name(), mode.getKey(), pipeline, mode.getValue(), c, requests, setup.tokens(), prompts);
                        rows.add(row);
                        console.printf(Locale.ROOT, "  %-14s c=%-2d %8.1f tok/s  ITL p50 %7.2f ms p99 %7.2f ms  TTFT p50 %7.1f ms  α %.2f%n", row.mode(), c,
                                row.tokensPerSecond(), row.itlP50Ms(), row.itlP99Ms(), row.ttftP50Ms(), row.alpha());
                    }
                }
            }
        }
        write(rows);
        return rows;
    }

    private record Sample(long ttftNanos, long[] gaps, GenerationResult result) {}

    /** Seconds of by-load traffic at each concurrency before the measured points (--quick: 2). */
    static final double WARM_UP_SECONDS = 20;

    /** {@code concurrency} closed-loop clients sending requests for {@link #WARM_UP_SECONDS}. */
    private void warmUp(InProcessPipeline pipeline, DraftWindow window, int concurrency, int tokens, PromptSet prompts) throws Exception {
        ExecutorService clients = Executors.newFixedThreadPool(concurrency);
        long deadline = System.nanoTime() + (long) ((quick ? 2 : WARM_UP_SECONDS) * 1e9);
        try {
            List<Future<?>> running = new ArrayList<>();
            for (int i = 0; i < concurrency; i++) {
                int client = i;
                running.add(clients.submit(() -> {
                    for (int k = client; System.nanoTime() < deadline; k += concurrency) {
                        pipeline.generate(GenerationRequest.greedy(prompts.tokens().get(k % prompts.size()), tokens), t -> {}, window);
                    }
                    return null;
                }));
            }
            for (var f : running) f.get(30, TimeUnit.MINUTES);
        } finally {
            clients.shutdownNow();
        }
    }

    private static List<Sample> measure(InProcessPipeline pipeline, DraftWindow window, int concurrency, int requests, int tokens, PromptSet prompts)
            throws Exception {
        ExecutorService clients = Executors.newFixedThreadPool(concurrency);
        try {
            List<Future<Sample>> running = new ArrayList<>();
            for (int i = 0; i < requests; i++) {
                int[] prompt = prompts.tokens().get(i % prompts.size());
                running.add(clients.submit(() -> {
                    long[] times = new long[tokens];
                    int[] n = {0};
                    long start = System.nanoTime();
                    var r = pipeline.generate(GenerationRequest.greedy(prompt, tokens), t -> {
                        if (n[0] < times.length) times[n[0]++] = System.nanoTime();
                    }, window);
                    long[] gaps = new long[Math.max(0, n[0] - 1)];
                    for (int k = 1; k < n[0]; k++) gaps[k - 1] = times[k] - times[k - 1];
                    return new Sample(n[0] == 0 ? 0 : times[0] - start, gaps, r);
                }));
            }
            List<Sample> samples = new ArrayList<>();
            for (var f : running) samples.add(f.get(30, TimeUnit.MINUTES));
            return samples;
        } finally {
            clients.shutdownNow();
        }
    }

    private static ConcurrencyRow measure(String setup, String mode, InProcessPipeline pipeline, DraftWindow window, int c, int requests, int tokens,
                                          PromptSet prompts) throws Exception {
        long t0 = System.nanoTime();
        var samples = measure(pipeline, window, c, requests, tokens, prompts);
        double seconds = (System.nanoTime() - t0) / 1e9;
        long generated = samples.stream().mapToLong(s -> s.result().generated().length).sum();
        double[] ttft = samples.stream().mapToDouble(s -> s.ttftNanos() / 1e6).sorted().toArray();
        double[] gaps = samples.stream().flatMapToLong(s -> Arrays.stream(s.gaps())).mapToDouble(g -> g / 1e6).sorted().toArray();
        long verified = samples.stream().mapToLong(s -> s.result().speculation().draftsVerified()).sum();
        long accepted = samples.stream().mapToLong(s -> s.result().speculation().draftsAccepted()).sum();
        return new ConcurrencyRow(setup, mode, c, requests, generated, seconds, generated / seconds, quantile(ttft, 0.5), quantile(gaps, 0.5),
                quantile(gaps, 0.99), verified == 0 ? Double.NaN : (double) accepted / verified);
    }

    static double quantile(double[] sorted, double q) {
        if (sorted.length == 0) return Double.NaN;
        return sorted[Math.max(0, Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1))];
    }

    private void write(List<ConcurrencyRow> rows) throws IOException {
        Files.createDirectories(out);
        ResultFiles.writeCsv(out.resolve("results.csv"), rows, ConcurrencyRow.class);
        ResultFiles.writeJson(out.resolve("results.json"), Map.of("command", commandLine, "machine", MachineDescription.current()), rows);
        StringBuilder md = new StringBuilder("Command: `" + commandLine + "`  \nMachine: " + MachineDescription.current()
                + "  \nIn-process pipeline, greedy, fixed-length requests; modes chosen per request on the same stages; simulated devices in slow motion ×"
                + slowMotion + " (their tokens/s are ÷" + slowMotion + ").\n\n");
        md.append("| setup | mode | sessions | requests | tokens | tok/s | × 1 session | TTFT p50 ms | ITL p50 ms | ITL p99 ms | α |\n"
                + "|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (ConcurrencyRow r : rows) {
            double one = rows.stream().filter(x -> x.setup().equals(r.setup()) && x.mode().equals(r.mode()) && x.concurrency() == 1)
                    .mapToDouble(ConcurrencyRow::tokensPerSecond).findFirst().orElse(Double.NaN);
            md.append(String.format(Locale.ROOT, "| %s | %s | %d | %d | %d | %.1f | %.2f | %.1f | %.2f | %.2f | %s |%n", r.setup(), r.mode(), r.concurrency(),
                    r.requests(), r.tokens(), r.tokensPerSecond(), r.tokensPerSecond() / one, r.ttftP50Ms(), r.itlP50Ms(), r.itlP99Ms(),
                    Double.isNaN(r.alpha()) ? "–" : String.format(Locale.ROOT, "%.2f", r.alpha())));
        }
        md.append("\n### By load against the better of pipelined and PPSD\n\n| setup | sessions | best of the two (tok/s) | by load (tok/s) | ratio | ITL p50 best / by load |\n|---|---|---|---|---|---|\n");
        for (String setup : rows.stream().map(ConcurrencyRow::setup).distinct().toList()) {
            for (int c : rows.stream().filter(r -> r.setup().equals(setup)).mapToInt(ConcurrencyRow::concurrency).distinct().toArray()) {
                var at = rows.stream().filter(r -> r.setup().equals(setup) && r.concurrency() == c).toList();
                var best = at.stream().filter(r -> !r.mode().equals("ppsd, by load")).max(java.util.Comparator.comparingDouble(ConcurrencyRow::tokensPerSecond));
                var load = at.stream().filter(r -> r.mode().equals("ppsd, by load")).findFirst();
                if (best.isEmpty() || load.isEmpty()) continue;
                md.append(String.format(Locale.ROOT, "| %s | %d | %.1f (%s) | %.1f | %.3f | %.2f / %.2f ms |%n", setup, c, best.get().tokensPerSecond(),
                        best.get().mode(), load.get().tokensPerSecond(), load.get().tokensPerSecond() / best.get().tokensPerSecond(), best.get().itlP50Ms(),
                        load.get().itlP50Ms()));
            }
        }
        Files.writeString(out.resolve("results.md"), md);
        ConcurrencyPlots.write(out, rows);
        console.print(md);
    }
}
