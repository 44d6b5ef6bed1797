package io.ppsd.benchmarks.pipespec;

import io.ppsd.benchmarks.MachineDescription;
import io.ppsd.benchmarks.report.ResultFiles;
import io.ppsd.benchmarks.run.DeviceSpec;
import io.ppsd.benchmarks.run.OpenedStages;
import io.ppsd.benchmarks.run.StageOpener;
import io.ppsd.benchmarks.suite.PromptSet;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.Decoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.heads.ExitHeadFile;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.pipespec.HierarchyLevel;
import io.ppsd.runtime.pipespec.ModelLevel;
import io.ppsd.runtime.pipespec.PipeSpecDecoder;
import io.ppsd.runtime.pipespec.PpsdTarget;
import io.ppsd.runtime.ppsd.DraftWindow;
import io.ppsd.runtime.pipespec.WindowPolicy;
import io.ppsd.runtime.ppsd.InProcessPipeline;
import io.ppsd.runtime.simulated.DeviceProfile;
import io.ppsd.runtime.simulated.DeviceProfiles;
import io.ppsd.runtime.simulated.PrecisePause;
import io.ppsd.runtime.speculative.StagePlan;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * {@code ./ppsd bench --suite pipespec}: the two papers side by side on the shipped model —
 * autoregressive decoding of the target, EESD and PPSD (its default head and stage cut), PipeSpec
 * over a PPSD target, and PipeSpec with
 * the shipped draft model at fixed verification windows 1, 2, 4, 8 and the adaptive window (levels
 * that never wait for drafts, and two that wait for one after each correction), plus a
 * three-level hierarchy whose middle model is the target's first N/2 layers with its own norm and
 * LM head. On simulated devices (one per stage or level, the default profile: the target's layers
 * and LM head priced as the imitated model's; a draft level's at its share of the target's weights,
 * so the 4 × 64 draft imitates a model ~1/64 of the 13B per token's weights) and on this
 * machine's cores (levels share them: one core per draft, the rest for the target). Greedy, every
 * output compared with AR's; configurations alternate within each device so drifts hit all.
 */
public record PipeSpecSuite(Path target, Path draft, boolean quick, Path out, String commandLine, PrintStream console, boolean draftVocabulary) {

    public PipeSpecSuite(Path target, Path draft, boolean quick, Path out, String commandLine, PrintStream console) {
        this(target, draft, quick, out, commandLine, console, false);
    }

    /**
     * {@code ./ppsd bench --suite draft-vocabulary}: the same harness over PPSD with the E = N/4
     * heads drafting over the full vocabulary and over the 2048, 1024 and 512 most frequent tokens
     * ({@code <head>+v<K>}): α, speedup over AR and measured/ρ* side by side.
     */
    public static PipeSpecSuite draftVocabulary(Path target, boolean quick, Path out, String commandLine, PrintStream console) {
        return new PipeSpecSuite(target, target.resolveSibling(target.getFileName() + "-draft"), quick, out, commandLine, console, true);
    }

    public List<PipeSpecRow> run() throws Exception {
        if (!Files.isRegularFile(draft.resolve("config.json"))) {
            throw new IllegalArgumentException("no draft model at " + draft + " (pass one with --draft-models DIR)");
        }
        Files.createDirectories(out);
        ModelConfig config = ModelConfig.read(target.resolve("config.json"));
        // The middle model is written to a temporary directory (8 MB for ppsd-mini), never next to the results.
        Path work = Files.createTempDirectory("ppsd-pipespec-");
        Path middle = ModelCut.write(target, config.numLayers() / 2, work.resolve(target.getFileName() + "-l" + config.numLayers() / 2));
        int perKind = quick ? 3 : 8;
        int tokens = quick ? 24 : 64;
        PromptSet prompts = PromptSet.load(target, config, perKind, 96);
        DeviceProfiles profiles = DeviceProfiles.load();
        DeviceProfile profile = profiles.defaultOne();
        var pause = new PrecisePause(TimeUnit.NANOSECONDS.convert(profiles.spin()));
        int cores = Runtime.getRuntime().availableProcessors();
        List<DeviceSpec> devices = List.of(new DeviceSpec.Simulated(profile, 1, pause), new DeviceSpec.CpuCompute(cores));
        List<PipeSpecRow> rows = new ArrayList<>();
        console.printf(Locale.ROOT, (draftVocabulary ? "draft-vocabulary" : "pipespec") + " suite: target %s, draft %s, middle %s; %d prompts × %d tokens, greedy%n",
                target.getFileName(), draft.getFileName(), middle.getFileName(), prompts.size(), tokens);
        try (var targetFiles = ModelFiles.open(target); var draftFiles = ModelFiles.open(draft); var middleFiles = ModelFiles.open(middle)) {
            for (DeviceSpec device : devices) {
                List<Config> configs = draftVocabulary ? vocabularyConfigs(device, targetFiles) : configs(device, targetFiles, draftFiles, middleFiles, cores);
                Map<String, Measured> measured = new LinkedHashMap<>();
                try {
                    for (Config c : configs) measure(c, prompts.tokens().subList(0, 2), 8, null); // warm-up: JIT, threads
                    Map<String, int[][]> reference = new LinkedHashMap<>();
                    for (Config c : configs) {
                        console.printf(Locale.ROOT, "  %s %-28s ", device.name(), c.name());
                        var m = measure(c, prompts.tokens(), tokens, reference.get("ar"));
                        if (c.name().equals("ar")) reference.put("ar", m.outputs());
                        measured.put(c.name(), m);
                        console.printf(Locale.ROOT, "%7.1f tok/s  α %.3f  %s%n", m.tokensPerSecond(prompts, null), m.alpha(null), m.same() ? "" : "DIFFERENT FROM AR");
                    }
                } finally {
                    for (Config c : configs) c.close();
                }
                for (String corpus : List.of("prose", "code")) {
                    double ar = measured.get("ar").tokensPerSecond(prompts, corpus);
                    for (var e : measured.entrySet()) {
                        var m = e.getValue();
                        rows.add(new PipeSpecRow(device.name(), e.getKey(), corpus, m.count(prompts, corpus), m.tokens(prompts, corpus),
                                m.seconds(prompts, corpus), m.tokensPerSecond(prompts, corpus), m.tokensPerSecond(prompts, corpus) / ar,
                                m.alpha(corpus == null ? null : indices(prompts, corpus)), m.levelAlphas(indices(prompts, corpus)),
                                m.tokensPerCall(indices(prompts, corpus)), m.levelBusy(indices(prompts, corpus)),
                                m.predicted(indices(prompts, corpus)), m.paper(indices(prompts, corpus)), m.same()));
                    }
                }
            }
        }
        write(rows, prompts, tokens, profile);
        try (var files = Files.walk(work)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
        return rows;
    }

    /** A decoder to measure, and what closes its stages. */
    private record Config(String name, Decoder decoder, List<OpenedStages> opened, int window, java.util.function.DoubleUnaryOperator theory)
            implements AutoCloseable {
        Config(String name, Decoder decoder, List<OpenedStages> opened) {
            this(name, decoder, opened, 0, null);
        }

        Config(String name, Decoder decoder, List<OpenedStages> opened, int window) {
            this(name, decoder, opened, window, null);
        }

        @Override
        public void close() {
            decoder.close();
            opened.forEach(OpenedStages::close);
        }
    }

    /** AR, then PPSD with each E = N/4 head over the full vocabulary and over 2048, 1024 and 512 tokens. */
    private List<Config> vocabularyConfigs(DeviceSpec device, ModelFiles targetFiles) {
        List<Config> configs = new ArrayList<>();
        var arStages = new StageOpener(targetFiles, device).whole();
        configs.add(new Config("ar", new AutoregressiveDecoder(arStages.executors().getFirst()), List.of(arStages)));
        var tc = targetFiles.config();
        int exit = Math.max(1, tc.numLayers() / 4);
        List<String> heads = new ArrayList<>(List.of(ExitHeadFile.NORM));
        for (String h : ExitHeadFile.available(target)) {
            if (!h.startsWith("norm") && h.endsWith("-l" + exit)) heads.add(h);
        }
        for (String head : heads) {
            for (int k : new int[] {0, 2048, 1024, 512}) {
                if (k >= tc.vocabSize()) continue;
                String name = k == 0 ? head : head + "+v" + k;
                var stages = new StageOpener(targetFiles, device).pipeline(exit, name);
                configs.add(new Config("ppsd(" + name + ")", new InProcessPipeline(stages.executors(), 32, InProcessPipeline.Chaos.NONE), List.of(stages),
                        0, a -> io.ppsd.runtime.speculative.SpeedupTheory.ppsd(a, tc.numLayers(), exit)));
            }
        }
        return configs;
    }

    private List<Config> configs(DeviceSpec device, ModelFiles targetFiles, ModelFiles draftFiles, ModelFiles middleFiles, int cores) {
        List<Config> configs = new ArrayList<>();
        boolean simulated = device instanceof DeviceSpec.Simulated;
        // AR: the whole target on one device (on this machine: all cores).
        var arStages = new StageOpener(targetFiles, device).whole();
        configs.add(new Config("ar", new AutoregressiveDecoder(arStages.executors().getFirst()), List.of(arStages)));
        // PPSD: the default head and its stage cut, one device per stage (on this machine: the cores shared out).
        var tc = targetFiles.config();
        String head = ExitHeadFile.defaultHead(target, tc);
        int exit = ExitHeadFile.resolveExitLayer(target, tc, head, null);
        var ppsdStages = new StageOpener(targetFiles, device).pipeline(exit, head);
        configs.add(new Config("ppsd(" + head + ")", new InProcessPipeline(ppsdStages.executors(), 32, InProcessPipeline.Chaos.NONE), List.of(ppsdStages),
                0, a -> io.ppsd.runtime.speculative.SpeedupTheory.ppsd(a, tc.numLayers(), exit)));
        // EESD: the same head drafting γ = 4 tokens, then the rest of the model verifying them (one device, as AR).
        var eesdStages = new StageOpener(targetFiles, device).draftAndRest(exit, head);
        configs.add(new Config("eesd(" + head + ", γ=4)", new io.ppsd.runtime.speculative.EesdDecoder(eesdStages.executors(), 4, false), List.of(eesdStages),
                0, a -> io.ppsd.runtime.speculative.SpeedupTheory.eesd(a, 4, tc.numLayers(), exit)));
        // PipeSpec: each level on a device of its own (on this machine: one core per draft level, the rest for the target).
        // On simulated devices a draft level imitates a model as much smaller than the imitated target as the
        // draft is than the target here (its layers and LM head at their share of the weights).
        DeviceSpec draftDevice = simulated ? scaled((DeviceSpec.Simulated) device, draftFiles.config(), tc) : new DeviceSpec.CpuCompute(1);
        DeviceSpec middleDevice = simulated ? scaled((DeviceSpec.Simulated) device, middleFiles.config(), tc) : new DeviceSpec.CpuCompute(1);
        Supplier<List<Object>> two = () -> {
            var d = new StageOpener(draftFiles, draftDevice).whole();
            var t = new StageOpener(targetFiles, simulated ? device : new DeviceSpec.CpuCompute(Math.max(1, cores - 1))).whole();
            return List.of(d, t);
        };
        record Variant(WindowPolicy window, int waitFor) {}
        for (Variant v : List.of(new Variant(WindowPolicy.fixed(1), 0), new Variant(WindowPolicy.fixed(2), 0), new Variant(WindowPolicy.fixed(4), 0),
                new Variant(WindowPolicy.fixed(8), 0), new Variant(WindowPolicy.adaptive(8), 0), new Variant(WindowPolicy.fixed(4), 1),
                new Variant(WindowPolicy.adaptive(8), 1))) {
            var opened = two.get();
            var d = (OpenedStages) opened.get(0);
            var t = (OpenedStages) opened.get(1);
            var levels = List.of(new ModelLevel(draft.getFileName().toString(), d.executors()), new ModelLevel("target", t.executors()));
            var w = v.window();
            String name = "pipespec " + (w instanceof WindowPolicy.Fixed ? "w=" + w.size() : "adaptive≤" + w.size()) + (v.waitFor() > 0 ? " waits" : "");
            configs.add(new Config(name, new PipeSpecDecoder(levels, w, PipeSpecDecoder.defaultLead(w), v.waitFor(), InProcessPipeline.Chaos.NONE),
                    List.of(d, t), v.waitFor() == 0 ? w.size() : 0));
        }
        // PipeSpec with a PPSD target: the PPSD pipeline as above, its stage 0 drafting with the draft model's tokens
        // (the exit head filling in while the draft model catches up, or waiting for it); the draft model on a device of its own.
        // Predicted: PPSD's ρ* at the measured α (what the pipeline gives when drafts cost stage 0 nothing extra).
        for (boolean waits : new boolean[] {false, true}) {
            var ps = new StageOpener(targetFiles, device).pipeline(exit, head);
            var dd = new StageOpener(draftFiles, draftDevice).whole();
            var w4 = WindowPolicy.fixed(4);
            var decoder = PpsdTarget.inProcess(ps.executors(), List.of(new ModelLevel(draft.getFileName().toString(), dd.executors())), w4,
                    PipeSpecDecoder.defaultLead(w4), 0, waits, 32, DraftWindow.defaultFor(ps.executors().size()), InProcessPipeline.Chaos.NONE);
            configs.add(new Config("pipespec over ppsd(" + head + ")" + (waits ? " waits" : ""), decoder, List.of(ps, dd), 0,
                    a -> io.ppsd.runtime.speculative.SpeedupTheory.ppsd(a, tc.numLayers(), exit)));
        }
        var d = new StageOpener(draftFiles, draftDevice).whole();
        var m = new StageOpener(middleFiles, middleDevice).whole();
        var t = new StageOpener(targetFiles, simulated ? device : new DeviceSpec.CpuCompute(Math.max(1, cores - 2))).whole();
        var w = WindowPolicy.adaptive(8);
        var levels = List.of(new ModelLevel(draft.getFileName().toString(), d.executors()), new ModelLevel("middle", m.executors()),
                new ModelLevel("target", t.executors()));
        configs.add(new Config("pipespec 3 levels adaptive≤8", new PipeSpecDecoder(levels, w, PipeSpecDecoder.defaultLead(w), InProcessPipeline.Chaos.NONE),
                List.of(d, m, t)));
        var d3 = new StageOpener(draftFiles, draftDevice).whole();
        var m3 = new StageOpener(middleFiles, middleDevice).whole();
        var ps3 = new StageOpener(targetFiles, device).pipeline(exit, head);
        var drafts3 = List.of(new ModelLevel(draft.getFileName().toString(), d3.executors()), new ModelLevel("middle", m3.executors()));
        configs.add(new Config("pipespec 3 levels over ppsd(" + head + ") waits", PpsdTarget.inProcess(ps3.executors(), drafts3, w, PipeSpecDecoder.defaultLead(w), 0,
                true, 32, DraftWindow.defaultFor(ps3.executors().size()), InProcessPipeline.Chaos.NONE), List.of(ps3, d3, m3), 0,
                a -> io.ppsd.runtime.speculative.SpeedupTheory.ppsd(a, tc.numLayers(), exit)));
        return configs;
    }

    private static DeviceSpec.Simulated scaled(DeviceSpec.Simulated sim, ModelConfig level, ModelConfig target) {
        double layer = (double) layerParameters(level) / layerParameters(target);
        double head = (double) level.vocabSize() * level.hiddenSize() / ((double) target.vocabSize() * target.hiddenSize());
        return new DeviceSpec.Simulated(sim.profile().scaled("/draft", layer, head), sim.threadsPerStage(), sim.pause());
    }

    private static long layerParameters(ModelConfig c) {
        long h = c.hiddenSize();
        return h * c.qDim() * 2 + h * c.kvDim() * 2 + 3 * h * c.intermediateSize();
    }

    /** One configuration over every prompt: per prompt its result and (PipeSpec) level counters. */
    private record Measured(List<GenerationResult> results, List<List<HierarchyLevel.Stats>> levels, int[][] outputs, boolean same, int window,
                            java.util.function.DoubleUnaryOperator theory, List<long[]> stageBusy) {

        /** PipeSpec's own closed form at the measured α and the window as its lookahead; two levels that never wait. */
        double paper(List<Integer> which) {
            if (window == 0 || levels.isEmpty() || levels.getFirst() == null || levels.getFirst().size() != 2) return Double.NaN;
            return io.ppsd.runtime.speculative.SpeedupTheory.pipespecPaper(alpha(which), window);
        }

        /**
         * ppsd's PipeSpec model at the measured α and draft cost (a draft token's time over a target
         * call), two levels that never wait; PPSD and PPSD targets: ρ* at the measured α.
         */
        double predicted(List<Integer> which) {
            if (theory != null) return theory.applyAsDouble(alpha(which));
            if (window == 0 || levels.isEmpty() || levels.getFirst() == null || levels.getFirst().size() != 2) return Double.NaN;
            long draftBusy = 0, draftCalls = 0, targetBusy = 0, targetCalls = 0;
            for (int i : which) {
                draftBusy += levels.get(i).get(0).busyNanos();
                draftCalls += levels.get(i).get(0).calls();
                targetBusy += levels.get(i).get(1).busyNanos();
                targetCalls += levels.get(i).get(1).calls();
            }
            double cost = ((double) draftBusy / draftCalls) / ((double) targetBusy / targetCalls);
            return io.ppsd.runtime.speculative.SpeedupTheory.pipespec(alpha(which), window, cost);
        }


        long tokens(PromptSet p, String corpus) {
            return indices(p, corpus).stream().mapToLong(i -> results.get(i).timings().generatedTokens()).sum();
        }

        double seconds(PromptSet p, String corpus) {
            return indices(p, corpus).stream().mapToLong(i -> results.get(i).timings().generationNanos()).sum() / 1e9;
        }

        int count(PromptSet p, String corpus) {
            return indices(p, corpus).size();
        }

        double tokensPerSecond(PromptSet p, String corpus) {
            return tokens(p, corpus) / seconds(p, corpus);
        }

        double alpha(List<Integer> which) {
            long v = 0, a = 0;
            for (int i = 0; i < results.size(); i++) {
                if (which != null && !which.contains(i)) continue;
                v += results.get(i).speculation().draftsVerified();
                a += results.get(i).speculation().draftsAccepted();
            }
            return v == 0 ? Double.NaN : (double) a / v;
        }

        String levelAlphas(List<Integer> which) {
            if (levels.isEmpty() || levels.getFirst() == null) return "";
            int k = levels.getFirst().size();
            List<String> parts = new ArrayList<>();
            for (int l = 1; l < k; l++) {
                long v = 0, a = 0;
                for (int i : which) {
                    v += levels.get(i).get(l).draftsVerified();
                    a += levels.get(i).get(l).draftsAccepted();
                }
                parts.add(String.format(Locale.ROOT, "%.3f", v == 0 ? Double.NaN : (double) a / v));
            }
            return String.join("/", parts);
        }

        /** Each level's model-call time over the generations' wall time (prefill included). */
        String levelBusy(List<Integer> which) {
            long wall = 0;
            for (int i : which) wall += results.get(i).timings().promptNanos() + results.get(i).timings().generationNanos();
            if (levels.isEmpty() || levels.getFirst() == null) {
                // PPSD pipelines (a PPSD target's stages first, then its draft models): each simulated device's time in calls.
                if (stageBusy.isEmpty() || stageBusy.getFirst().length < 2) return "";
                List<String> parts = new ArrayList<>();
                for (int k = 0; k < stageBusy.getFirst().length; k++) {
                    long busy = 0;
                    for (int i : which) busy += stageBusy.get(i)[k];
                    parts.add(String.format(Locale.ROOT, "%.0f%%", 100.0 * busy / wall));
                }
                return String.join("/", parts);
            }
            List<String> parts = new ArrayList<>();
            for (int l = 0; l < levels.getFirst().size(); l++) {
                long busy = 0;
                for (int i : which) busy += levels.get(i).get(l).busyNanos();
                parts.add(String.format(Locale.ROOT, "%.0f%%", 100.0 * busy / wall));
            }
            return String.join("/", parts);
        }

        double tokensPerCall(List<Integer> which) {
            long tokens = 0, steps = 0;
            for (int i : which) {
                tokens += results.get(i).speculation().tokensCommitted();
                steps += results.get(i).speculation().steps();
            }
            return steps == 0 ? Double.NaN : (double) tokens / steps;
        }
    }

    private static List<Integer> indices(PromptSet p, String corpus) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < p.ids().size(); i++) if (corpus == null || p.ids().get(i).startsWith(corpus)) out.add(i);
        return out;
    }

    private static Measured measure(Config c, List<int[]> prompts, int tokens, int[][] reference) {
        List<GenerationResult> results = new ArrayList<>();
        List<List<HierarchyLevel.Stats>> levels = new ArrayList<>();
        int[][] outputs = new int[prompts.size()][];
        boolean same = true;
        List<long[]> stageBusy = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            long[] before = simulatedNanos(c);
            var r = c.decoder().generate(GenerationRequest.greedy(prompts.get(i), tokens), TokenListener.NONE);
            long[] after = simulatedNanos(c);
            for (int k = 0; k < after.length; k++) after[k] -= before[k];
            stageBusy.add(after);
            results.add(r);
            levels.add(c.decoder() instanceof PipeSpecDecoder p ? p.lastLevelStats() : null);
            outputs[i] = r.generated();
            if (reference != null && !Arrays.equals(reference[i], outputs[i])) same = false;
        }
        return new Measured(results, levels, outputs, same, c.window(), c.theory(), stageBusy);
    }

    /** The simulated call time so far of every simulated stage of the configuration, in the order it opened them (none on real cores). */
    private static long[] simulatedNanos(Config c) {
        return c.opened().stream().flatMap(o -> o.paddingStats().stream()).mapToLong(io.ppsd.runtime.simulated.PaddingStats::targetNanos).toArray();
    }

    private void write(List<PipeSpecRow> rows, PromptSet prompts, int tokens, DeviceProfile profile) throws IOException {
        ResultFiles.writeCsv(out.resolve("results.csv"), rows, PipeSpecRow.class);
        ResultFiles.writeJson(out.resolve("results.json"), Map.of("command", commandLine, "machine", MachineDescription.current()), rows);
        StringBuilder md = new StringBuilder("Command: `" + commandLine + "`  \nMachine: " + MachineDescription.current() + "  \nTarget: `"
                + target + "`, draft: `" + draft + "`; " + prompts.size() + " prompts (" + prompts.source() + "), " + tokens
                + " new tokens each, greedy. Simulated devices: " + profile + ", one per stage or level.\n\n");
        md.append("| device | configuration | corpus | tokens | tok/s | speedup vs AR | predicted | measured/predicted | paper's closed form | measured/paper | α (target) | α per level | tokens per target call | busy per level | = AR |\n"
                + "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (PipeSpecRow r : rows) {
            md.append(String.format(Locale.ROOT, "| %s | %s | %s | %d | %.1f | %.2fx | %s | %s | %s | %s | %s | %s | %s | %s | %s |%n", r.device(), r.config(), r.corpus(), r.tokens(),
                    r.tokensPerSecond(), r.speedup(), Double.isNaN(r.predicted()) ? "–" : String.format(Locale.ROOT, "%.2fx", r.predicted()),
                    Double.isNaN(r.predicted()) ? "–" : String.format(Locale.ROOT, "%.2f", r.speedup() / r.predicted()),
                    Double.isNaN(r.paper()) ? "–" : String.format(Locale.ROOT, "%.2fx", r.paper()),
                    Double.isNaN(r.paper()) ? "–" : String.format(Locale.ROOT, "%.2f", r.speedup() / r.paper()), Double.isNaN(r.alpha()) ? "–" : String.format(Locale.ROOT, "%.3f", r.alpha()),
                    r.levelAlphas().isEmpty() ? "–" : r.levelAlphas(), Double.isNaN(r.tokensPerCall()) ? "–" : String.format(Locale.ROOT, "%.2f", r.tokensPerCall()),
                    r.levelBusy().isEmpty() ? "–" : r.levelBusy(), r.sameAsAr() ? "yes" : "**no**"));
        }
        Files.writeString(out.resolve("results.md"), md);
        PipeSpecPlots.write(out, rows, draftVocabulary ? "draft-vocabulary-speedup-" : "pipespec-speedup-");
        console.print(md);
    }
}
