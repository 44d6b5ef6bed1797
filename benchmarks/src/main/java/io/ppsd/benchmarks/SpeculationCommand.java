package io.ppsd.benchmarks;

import io.ppsd.benchmarks.model.ModelChoice;
import io.ppsd.benchmarks.report.HopRow;
import io.ppsd.benchmarks.report.HopTable;
import io.ppsd.benchmarks.report.ResultFiles;
import io.ppsd.benchmarks.report.ResultPlots;
import io.ppsd.benchmarks.report.ResultRow;
import io.ppsd.benchmarks.report.ResultTable;
import io.ppsd.benchmarks.run.DeviceSpec;
import io.ppsd.benchmarks.run.SuiteRunner;
import io.ppsd.benchmarks.run.SuiteSettings;
import io.ppsd.benchmarks.run.Transport;
import io.ppsd.benchmarks.run.WindowChoice;
import io.ppsd.benchmarks.suite.BenchConfig;
import io.ppsd.benchmarks.suite.PromptSet;
import io.ppsd.benchmarks.suite.SpeculationSuite;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.simulated.DeviceProfiles;
import io.ppsd.runtime.simulated.PrecisePause;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs one of the AR/EESD/PPSD suites and writes results.csv, results.json, results.md and plots. */
public record SpeculationCommand(String suite, boolean quick, Path model, Path out, int threads, String profile, double slowMotion, List<String> transports, WindowChoice window,
                                 String commandLine, RepoLayout repo, PrintStream console) {

    public Path run() throws Exception {
        SpeculationSuite s = SpeculationSuite.named(suite);
        transports.forEach(Transport::named); // an unknown transport fails now, not after the configurations before it
        SuiteSettings settings = s.settings(quick);
        Path modelDir = ModelChoice.resolve(model, repo);
        Path outDir = out != null ? out : repo.results(quick ? suite + "-quick" : suite);
        Files.createDirectories(outDir);
        // Transports that open their own stages (actors) get "simulated" devices from the runtime's
        // configuration: make it the harness's profile and slow motion, so both sides simulate the same device.
        if (profile != null) System.setProperty("ppsd.simulated.profile", profile);
        System.setProperty("ppsd.simulated.slow-motion", Double.toString(slowMotion));
        com.typesafe.config.ConfigFactory.invalidateCaches();
        DeviceProfiles profiles = DeviceProfiles.load();
        var simulated = new DeviceSpec.Simulated(profiles.get(profile == null ? profiles.defaultProfile() : profile).slowedBy(slowMotion), 1,
                new PrecisePause(TimeUnit.NANOSECONDS.convert(profiles.spin())));
        var cpu = new DeviceSpec.CpuCompute(threads);
        long t0 = System.nanoTime();
        try (ModelFiles files = ModelFiles.open(modelDir)) {
            var config = files.config();
            PromptSet prompts = PromptSet.load(modelDir, config, settings.promptsPerKind(), settings.maxPromptTokens());
            List<BenchConfig> configs = s.configs(modelDir, config, cpu, simulated, transports, quick);
            console.printf("suite %s%s: %d configurations on %s (%d layers), %d prompts from %s, %d new tokens each, %d repetitions; output %s%n",
                    suite, quick ? " (quick)" : "", configs.size(), modelDir, config.numLayers(), prompts.size(), prompts.source(),
                    settings.newTokens(), settings.repetitions(), outDir);
            List<ResultRow> rows;
            List<HopRow> hops;
            try (var runner = new SuiteRunner(suite, modelDir.getFileName().toString(), files, prompts.tokens(), settings, window, console)) {
                rows = runner.run(configs);
                hops = runner.hopRows();
            }
            Map<String, Object> meta = new LinkedHashMap<>();
            meta.put("suite", suite);
            meta.put("quick", quick);
            meta.put("command", commandLine);
            meta.put("date", ZonedDateTime.now().toString());
            meta.put("model", modelDir.toString());
            meta.put("model_config", config);
            meta.put("prompts", prompts.ids());
            meta.put("settings", settings);
            meta.put("cpu_threads", threads);
            meta.put("ppsd_window", window.text());
            var p = simulated.profile();
            meta.put("simulated_profile", Map.of("name", p.name(), "description", p.description(),
                    "layer_decode_ms", p.layerNanos(1) / 1e6, "lm_head_ms", p.logitsNanos(1) / 1e6,
                    "call_overhead_us", p.callOverhead().toNanos() / 1e3, "spin_us", profiles.spin().toNanos() / 1e3, "slow_motion", slowMotion));
            meta.put("machine", MachineDescription.current());
            meta.put("seconds", (System.nanoTime() - t0) / 1e9);
            ResultFiles.writeCsv(outDir.resolve("results.csv"), rows, ResultRow.class);
            ResultFiles.writeJson(outDir.resolve("results.json"), meta, rows);
            Files.writeString(outDir.resolve("results.md"), "Command: `" + commandLine + "`  \nMachine: " + MachineDescription.current()
                    + "  \nDate: " + meta.get("date") + "  \nModel: " + modelDir + "\n\n" + ResultTable.markdown(rows) + HopTable.markdown(hops));
            ResultPlots.write(outDir, rows);
            if (!hops.isEmpty()) {
                ResultFiles.writeCsv(outDir.resolve("hops.csv"), hops, HopRow.class);
                ResultPlots.writeHops(outDir, hops);
            }
            console.printf("wrote %s (%.0f s)%n", outDir, (System.nanoTime() - t0) / 1e9);
        }
        return outDir;
    }
}
