package io.ppsd.benchmarks;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs the JMH benchmarks of {@code io.ppsd.runtime.cpu.KernelBench} in forked JVMs with the
 * engine's flags; writes {@code jmh.json} (JMH's format) and {@code results.md}.
 */
final class KernelBenchmarks {
    private KernelBenchmarks() {}

    static int run(String extraArgs, Path outDir, String commandLine) throws Exception {
        Files.createDirectories(outDir);
        List<String> args = new ArrayList<>();
        if (extraArgs != null && !extraArgs.isBlank()) args.addAll(List.of(extraArgs.trim().split("\\s+")));
        var cmd = new CommandLineOptions(args.toArray(String[]::new));
        var builder = new OptionsBuilder().parent(cmd);
        // Defaults sized for a 2-core machine (about 3 minutes in all); JMH's own flags override them.
        if (!cmd.getForkCount().hasValue()) builder.forks(1);
        if (!cmd.getWarmupIterations().hasValue()) builder.warmupIterations(3);
        if (!cmd.getWarmupTime().hasValue()) builder.warmupTime(TimeValue.seconds(1));
        if (!cmd.getMeasurementIterations().hasValue()) builder.measurementIterations(5);
        if (!cmd.getMeasurementTime().hasValue()) builder.measurementTime(TimeValue.seconds(1));
        builder
                .jvmArgsAppend("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-XX:+UseParallelGC")
                .result(outDir.resolve("jmh.json").toString()).resultFormat(ResultFormatType.JSON);
        if (cmd.getIncludes().isEmpty()) builder.include("io.ppsd.runtime.cpu.KernelBench");
        Collection<RunResult> results = new Runner(builder.build()).run();
        StringBuilder md = new StringBuilder("Command: `" + commandLine + "`  \nMachine: " + MachineDescription.current() + "\n\n");
        md.append("| benchmark | parameters | µs/op | ± (99.9%) | weight GB/s |\n|---|---|---|---|---|\n");
        for (RunResult r : results) {
            var p = r.getParams();
            var s = r.getPrimaryResult();
            String name = p.getBenchmark().substring(p.getBenchmark().lastIndexOf('.') + 1);
            StringBuilder params = new StringBuilder();
            for (String k : p.getParamsKeys()) params.append(k).append('=').append(p.getParam(k)).append(' ');
            String bandwidth = "-";
            if (name.equals("matmul")) {
                double bytes = 2816.0 * 1024 * (p.getParam("dtype").equals("F32") ? 4 : 2);
                bandwidth = String.format(Locale.ROOT, "%.1f", bytes / (s.getScore() * 1e-6) / 1e9);
            }
            md.append(String.format(Locale.ROOT, "| %s | %s| %.1f | %.1f | %s |%n", name, params, s.getScore(), s.getScoreError(), bandwidth));
        }
        Files.writeString(outDir.resolve("results.md"), md);
        System.err.print(md);
        return 0;
    }
}
