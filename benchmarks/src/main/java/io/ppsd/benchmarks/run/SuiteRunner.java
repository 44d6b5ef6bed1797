package io.ppsd.benchmarks.run;

import io.ppsd.actors.probe.HopLatency;
import io.ppsd.benchmarks.report.HopRow;
import io.ppsd.benchmarks.report.ResultRow;
import io.ppsd.benchmarks.suite.BenchConfig;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.Decoder;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.simulated.PaddingStats;
import io.ppsd.runtime.speculative.EesdDecoder;
import io.ppsd.runtime.speculative.StagePlan;
import io.ppsd.runtime.stage.StageExecutor;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs configurations one after the other. Each is measured against autoregressive decoding on the
 * same device in the same repetitions (interleaved, alternating order, warm-up discarded), so slow
 * drifts of a shared machine affect both sides of a ratio alike. Consecutive configurations with
 * the same layout (EESD with γ = 1..8) reuse the opened stages.
 */
public final class SuiteRunner implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SuiteRunner.class);
    /** Prompt positions per prefill message, as the CLI uses. */
    private static final int PREFILL_CHUNK = 32;

    private final String suite;
    private final String modelName;
    private final ModelFiles files;
    private final List<int[]> prompts;
    private final SuiteSettings settings;
    private final PrintStream console;
    /** PPSD draft window, relative to each configuration's stage count. */
    private final WindowChoice window;
    private final Map<String, Setup> arByDevice = new HashMap<>();
    private Setup current;
    private final List<HopRow> hopRows = new ArrayList<>();

    /** Opened stages and the decoder built over them (a pipeline's threads belong to the decoder). */
    private record Setup(String key, OpenedStages stages, Decoder pipelineDecoder) implements AutoCloseable {
        @Override
        public void close() {
            if (pipelineDecoder != null) pipelineDecoder.close();
            stages.close();
        }
    }

    public SuiteRunner(String suite, String modelName, ModelFiles files, List<int[]> prompts, SuiteSettings settings, WindowChoice window,
                       PrintStream console) {
        this.window = window;
        this.suite = suite;
        this.modelName = modelName;
        this.files = files;
        this.prompts = prompts;
        this.settings = settings;
        this.console = console;
    }

    /**
     * Hidden-state sizes the hop probes carry: this model's row, and a LLaMA-2-13B row (5120 floats,
     * what a pipeline of the simulated profile's model would send per decoded position).
     */
    private static final int THIRTEEN_B_HIDDEN = 5120;

    /** Per-hop messaging latency of every PPSD configuration whose transport sends messages. */
    public List<HopRow> hopRows() {
        return List.copyOf(hopRows);
    }

    public List<ResultRow> run(List<BenchConfig> configs) {
        var progress = new Progress<>(console, configs, c -> c.strategy() + "/" + c.device().name() + "/" + c.stages());
        List<ResultRow> rows = new ArrayList<>();
        for (int i = 0; i < configs.size(); i++) {
            BenchConfig c = configs.get(i);
            progress.starting(i, c.id());
            long t0 = System.nanoTime();
            ResultRow row = measure(c);
            double seconds = (System.nanoTime() - t0) / 1e9;
            row = withSeconds(row, seconds);
            rows.add(row);
            progress.finished(c, seconds, summary(row));
        }
        return rows;
    }

    private ResultRow measure(BenchConfig c) {
        boolean fresh = current == null || !current.key().equals(c.setupKey()) || !arByDevice.containsKey(c.device().name());
        Setup ar = arByDevice.computeIfAbsent(c.device().name(), d -> new Setup("ar", new StageOpener(files, c.device()).whole(), null));
        Decoder arDecoder = autoregressive(ar.stages().executors().getFirst());
        Decoder strategy;
        List<StageExecutor> measured;
        switch (c.strategy()) {
            case AR -> {
                if (c.strategyDevice().equals(c.device())) {
                    strategy = arDecoder;
                    measured = ar.stages().executors();
                } else {
                    Setup s = setup(c);
                    strategy = autoregressive(s.stages().executors().getFirst());
                    measured = s.stages().executors();
                }
            }
            case EESD -> {
                Setup s = setup(c);
                strategy = eesd(s.stages().executors(), c.gamma());
                measured = s.stages().executors();
            }
            case PPSD -> {
                Setup s = setup(c);
                strategy = s.pipelineDecoder();
                measured = s.stages().executors();
            }
            default -> throw new IllegalStateException();
        }
        List<int[]> warm = prompts.subList(0, Math.min(settings.warmupPrompts(), prompts.size()));
        long warmUntil = System.nanoTime() + (fresh ? (long) (settings.warmupSeconds() * 1e9) : 0);
        if (!warm.isEmpty()) {
            do {
                PassResult.run(arDecoder, warm, settings.newTokens());
                PassResult.run(strategy, warm, settings.newTokens());
            } while (System.nanoTime() < warmUntil);
        }
        OpenedStages stages = new OpenedStages(measured, List.of());
        List<PaddingStats> before = stages.paddingStats();
        int reps = settings.repetitions();
        double[] arTps = new double[reps], tps = new double[reps], ratio = new double[reps];
        long verified = 0, accepted = 0, committed = 0, steps = 0, wasted = 0;
        boolean match = true;
        for (int r = 0; r < reps; r++) {
            PassResult a, s;
            if (r % 2 == 0) {
                a = PassResult.run(arDecoder, prompts, settings.newTokens());
                s = PassResult.run(strategy, prompts, settings.newTokens());
            } else {
                s = PassResult.run(strategy, prompts, settings.newTokens());
                a = PassResult.run(arDecoder, prompts, settings.newTokens());
            }
            arTps[r] = a.tokensPerSecond();
            tps[r] = s.tokensPerSecond();
            ratio[r] = tps[r] / arTps[r];
            verified += s.verified();
            accepted += s.accepted();
            committed += s.committed();
            steps += s.steps();
            wasted += s.wasted();
            for (int p = 0; p < prompts.size(); p++) match &= Arrays.equals(a.outputs().get(p), s.outputs().get(p));
        }
        List<PaddingStats> after = stages.paddingStats();
        double maxShare = 0, maxLate = 0, overruns = 0;
        for (int k = 0; k < after.size(); k++) {
            PaddingStats d = after.get(k).minus(before.get(k));
            maxShare = Math.max(maxShare, d.computeShare());
            maxLate = Math.max(maxLate, d.meanLatenessNanos() / 1e3);
            overruns = Math.max(overruns, d.overrunFraction());
        }
        double alpha = c.strategy() == BenchConfig.Strategy.AR ? Double.NaN : verified == 0 ? Double.NaN : (double) accepted / verified;
        double tokensPerStep = steps == 0 ? Double.NaN : (double) committed / steps;
        double speedup = median(ratio);
        double theory = c.strategy() == BenchConfig.Strategy.AR ? 1 : SpeedupBounds.theory(c, alpha);
        double bound = c.strategy() == BenchConfig.Strategy.AR ? (stages.paddingStats().isEmpty() ? Double.NaN : 1) : SpeedupBounds.profileBound(c, alpha);
        if (!match) log.warn("{}: greedy output differs from autoregressive decoding", c.id());
        if (c.strategy() == BenchConfig.Strategy.PPSD) {
            // Over actor transports the bound adds the probed hops to every round trip (SpeedupBounds).
            double ring = probeHops(c, strategy);
            if (ring > 0 && !Double.isNaN(bound)) {
                int stagesOf = StagePlan.forExitLayer(c.numLayers(), c.exitLayer()).stageCount();
                bound = SpeedupBounds.profileBound(c, alpha, ring, window.forStages(stagesOf).max());
            }
        }
        return new ResultRow(suite, modelName, c.id(), c.strategy().name().toLowerCase(Locale.ROOT), c.device().name(), c.transport(), c.stages(),
                c.head(), c.headKind() == null ? "-" : c.headKind().name().toLowerCase(Locale.ROOT), c.exitLayer(), c.numLayers(), c.gamma(),
                prompts.size(), settings.newTokens(), reps, median(tps), median(arTps), speedup, min(ratio), max(ratio), alpha, tokensPerStep,
                committed == 0 ? Double.NaN : (double) wasted / committed, SpeedupBounds.theoryName(c), theory, speedup / theory,
                bound, speedup / bound, match, after.isEmpty() ? Double.NaN : maxShare, after.isEmpty() ? Double.NaN : overruns, after.isEmpty() ? Double.NaN : maxLate, 0);
    }

    /** Probes the pipeline's hops (if it has any); returns the ring time at this model's payload, or 0. */
    private double probeHops(BenchConfig c, Decoder pipeline) {
        double ring = 0;
        for (int floats : new int[] {files.config().hiddenSize(), THIRTEEN_B_HIDDEN}) {
            if (!(pipeline instanceof HopProbing probing)) return 0;
            HopReport report = probing.hops(floats);
            if (floats == files.config().hiddenSize()) ring = report.ringNanos();
            for (HopLatency h : report.latency()) {
                hopRows.add(new HopRow(c.id(), c.transport(), c.device().name(), c.stages(), report.jvms(), 4 * floats, h.kind(), h.count(),
                        h.medianMicros(), h.p99Micros(), h.maxMicros()));
                console.printf(Locale.ROOT, "      %s hops, %d B: median %.1f µs, p99 %.1f µs (%d hops)%n", h.kind(), 4 * floats,
                        h.medianMicros(), h.p99Micros(), h.count());
            }
        }
        return ring;
    }

    private Setup setup(BenchConfig c) {
        if (current != null && current.key().equals(c.setupKey())) return current;
        if (current != null) current.close();
        current = null;
        var opener = new StageOpener(files, c.strategyDevice());
        if (c.strategy() == BenchConfig.Strategy.AR) {
            current = new Setup(c.setupKey(), opener.whole(), null);
        } else if (c.strategy() == BenchConfig.Strategy.EESD) {
            current = new Setup(c.setupKey(), opener.draftAndRest(c.exitLayer(), c.head()), null);
        } else {
            Transport transport = Transport.named(c.transport());
            var plan = StagePlan.forExitLayer(c.numLayers(), c.exitLayer());
            OpenedStages stages = transport.opensOwnStages() ? new OpenedStages(List.of(), List.of()) : opener.pipeline(c.exitLayer(), c.head());
            try {
                var setup = new PipelineSetup(files.dir(), c.head(), plan, window.forStages(plan.stageCount()), PREFILL_CHUNK,
                        PipelineSetup.devicesFor(c.device(), plan.stageCount()), stages);
                current = new Setup(c.setupKey(), stages, transport.pipeline(setup));
            } catch (RuntimeException e) {
                stages.close();
                throw e;
            }
        }
        return current;
    }

    private static Decoder autoregressive(StageExecutor whole) {
        return new AutoregressiveDecoder(whole);
    }

    private static Decoder eesd(List<StageExecutor> stages, int gamma) {
        return new EesdDecoder(stages, gamma, false);
    }

    private static String summary(ResultRow r) {
        return String.format(Locale.ROOT, "%.1f tok/s vs AR %.1f tok/s: %.2fx (%s %.2fx, ratio %.2f)%s%s",
                r.tokensPerSecond(), r.arTokensPerSecond(), r.speedup(), r.theoryName(), r.theory(), r.ratioToTheory(),
                Double.isNaN(r.alpha()) ? "" : String.format(Locale.ROOT, ", α %.2f", r.alpha()),
                r.outputsMatchAr() ? "" : "  OUTPUT DIFFERS FROM AR");
    }

    private static ResultRow withSeconds(ResultRow r, double s) {
        return new ResultRow(r.suite(), r.model(), r.id(), r.strategy(), r.device(), r.transport(), r.stages(), r.head(), r.headKind(),
                r.exitLayer(), r.numLayers(), r.gamma(), r.prompts(), r.newTokens(), r.repetitions(), r.tokensPerSecond(), r.arTokensPerSecond(),
                r.speedup(), r.speedupMin(), r.speedupMax(), r.alpha(), r.tokensPerStep(), r.wastedStageStepsPerToken(), r.theoryName(),
                r.theory(), r.ratioToTheory(), r.profileBound(), r.ratioToProfileBound(), r.outputsMatchAr(), r.maxComputeShare(),
                r.maxOverrunFraction(), r.maxMeanLatenessMicros(), s);
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    private static double min(double[] v) {
        return Arrays.stream(v).min().orElse(Double.NaN);
    }

    private static double max(double[] v) {
        return Arrays.stream(v).max().orElse(Double.NaN);
    }

    @Override
    public void close() {
        if (current != null) current.close();
        arByDevice.values().forEach(Setup::close);
    }
}
