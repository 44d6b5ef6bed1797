package io.ppsd.benchmarks;

import io.ppsd.actors.cli.PpsdCli;
import io.ppsd.benchmarks.report.HopRow;
import io.ppsd.benchmarks.report.HopTable;
import io.ppsd.benchmarks.report.ResultFiles;
import io.ppsd.benchmarks.report.ResultPlots;
import io.ppsd.benchmarks.report.ResultRow;
import io.ppsd.benchmarks.report.ResultTable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./ppsd bench}: runs a benchmark suite and writes its results under
 * {@code benchmarks/results/<suite>/}, or the JMH kernel microbenchmarks.
 */
@Command(name = "ppsd bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Measures decoding strategies and writes results.csv, results.json, results.md and PNG plots.",
                "Suites: default (AR, EESD γ=1..8, PPSD on CPU and simulated devices), ppsd (AR and PPSD only),",
                "decode-speed (CPU AR tokens/s of several model sizes, F32 and BF16, next to Jlama),",
                "serve (time to first token, inter-token latency and throughput over HTTP and the actor API at 1, 4, 16 clients)."})
public final class BenchMain implements Callable<Integer> {
    @Option(names = "--suite", defaultValue = "default", description = "default, ppsd, transports, decode-speed, serve, concurrency, pipespec or draft-vocabulary (default: ${DEFAULT-VALUE})")
    String suite;

    @Option(names = "--out", description = "output directory (default: benchmarks/results/<suite>[-quick])")
    Path out;

    @Option(names = "--quick", description = "a few configurations with few tokens (≤ 2 minutes; the CI smoke test)")
    boolean quick;

    @Option(names = "--model", description = "model directory (default: models/ppsd-mini, or its random stand-in until its weights exist)")
    Path model;

    @Option(names = "--stand-in", description = "use the random-weight stand-in with ppsd-mini's shapes (generated once)")
    boolean standIn;

    @Option(names = "--threads", defaultValue = "2", description = "CPU cores for real computation (default: ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--profile", description = "simulated device profile from ppsd.device-profiles (default: ppsd.simulated.profile)")
    String profile;

    @Option(names = "--slow-motion", defaultValue = "2", description = {"run simulated devices this many times slower (ratios unchanged),",
            "so that 2 host cores keep up with an 8-stage pipeline's real computation (default: ${DEFAULT-VALUE})"})
    double slowMotion;

    @Option(names = "--requests-per-session", defaultValue = "2", description = {"concurrency suite: requests per session at each point",
            "(longer points: more measuring periods for the load rule) (default: ${DEFAULT-VALUE})"})
    int requestsPerSession;

    @Option(names = "--transport", split = ",", defaultValue = "in-process", description = {"PPSD transports to measure: in-process, actors (one JVM),", "actors-cluster (2-4 node JVMs on loopback), actors-hosts[:DELAY_US] (node JVMs on", "the network-namespace test bed, optionally behind delaying relays) (default: ${DEFAULT-VALUE})"})
    List<String> transports = new ArrayList<>();

    @Option(names = "--window", defaultValue = "adaptive", description = {"PPSD draft window: adaptive (the runtime's default, at most S + 2),",
            "adaptive:S+k, or fixed S, S+k, S-k or a number (S = stages) (default: ${DEFAULT-VALUE})"})
    String window;

    @Option(names = "--draft-model", description = "pipespec suite: the draft model (default: <model>-draft beside the model, e.g. models/ppsd-mini-draft)")
    Path draftModel;

    @Option(names = "--replot", description = "redraw the plots and results.md of a results directory from its results.json")
    Path replot;

    @Option(names = "--compare", split = ",", description = {"plot measured/ρ* of the PPSD configurations of several results directories side by side",
            "(one series per directory, named after it) into <--out>/compare.png (default: next to the first directory)"})
    List<Path> compare;

    @Option(names = "--jmh", description = "run the JMH kernel microbenchmarks instead of a suite")
    boolean jmh;

    @Option(names = "--jmh-args", description = "extra JMH arguments, e.g. \"-f 1 -wi 2 -i 3 Matmul\"")
    String jmhArgs;

    private String[] args;

    public static void main(String[] args) {
        var main = new BenchMain();
        main.args = args;
        System.exit(PpsdCli.withErrorReporting(new CommandLine(main)).execute(args));
    }

    /** Redraws the plots and results.md of a results directory from its data files. */
    private static int replot(Path dir) throws IOException {
        List<ResultRow> rows = ResultFiles.readJson(dir.resolve("results.json"), ResultRow.class);
        ResultPlots.write(dir, rows);
        if (Files.exists(dir.resolve("hops.csv"))) ResultPlots.writeHops(dir, ResultFiles.readCsv(dir.resolve("hops.csv"), HopRow.class));
        String md = Files.readString(dir.resolve("results.md"));
        int cut = md.indexOf("### PPSD against theory");
        int hops = md.indexOf(HopTable.HEADING);
        Files.writeString(dir.resolve("results.md"), (cut < 0 ? "" : md.substring(0, cut)) + ResultTable.markdown(rows)
                + (hops < 0 ? "" : "\n" + md.substring(hops)));
        return 0;
    }

    /** One plot of measured/ρ* over several results directories. */
    private int compare(List<Path> dirs) throws IOException {
        Map<String, List<ResultRow>> runs = new LinkedHashMap<>();
        for (Path dir : dirs) runs.put(dir.getFileName().toString(), ResultFiles.readJson(dir.resolve("results.json"), ResultRow.class));
        Path first = dirs.getFirst().toAbsolutePath();
        Path dir = out != null ? out : first.getParent() != null ? first.getParent() : first;
        Files.createDirectories(dir);
        System.err.println("wrote " + ResultPlots.compareRuns(runs, dir.resolve("compare")));
        return 0;
    }

    @Override
    public Integer call() throws Exception {
        RepoLayout repo = RepoLayout.find();
        String commandLine = "./ppsd bench " + String.join(" ", args == null ? new String[0] : args);
        if (replot != null) return replot(replot);
        if (compare != null && !compare.isEmpty()) return compare(compare);
        if (standIn) model = io.ppsd.benchmarks.model.ModelChoice.standIn(repo);
        if (jmh) return KernelBenchmarks.run(jmhArgs, out != null ? out : repo.results("jmh"), commandLine);
        if (suite.equals("concurrency")) {
            new io.ppsd.benchmarks.concurrency.ConcurrencySuite(repo.shippedModel(), repo, quick, slowMotion, requestsPerSession,
                    out != null ? out : repo.results(quick ? "concurrency-quick" : "concurrency"), commandLine, System.err).run();
            return 0;
        }
        if (suite.equals("pipespec")) {
            Path dir = model != null ? model : repo.shippedModel();
            Path draft = draftModel != null ? draftModel : dir.resolveSibling(dir.getFileName() + "-draft");
            new io.ppsd.benchmarks.pipespec.PipeSpecSuite(dir, draft, quick, out != null ? out : repo.results(quick ? "pipespec-quick" : "pipespec"),
                    commandLine, System.err).run();
            return 0;
        }
        if (suite.equals("draft-vocabulary")) {
            Path dir = model != null ? model : repo.shippedModel();
            io.ppsd.benchmarks.pipespec.PipeSpecSuite.draftVocabulary(dir, quick, out != null ? out : repo.results(quick ? "draft-vocabulary-quick" : "draft-vocabulary"),
                    commandLine, System.err).run();
            return 0;
        }
        if (suite.equals("serve")) {
            Path dir = model != null ? model : repo.shippedModel();
            new io.ppsd.benchmarks.serve.ServeSuite(dir, quick, out != null ? out : repo.results(quick ? "serve-quick" : "serve"), commandLine, System.err).run();
        } else if (suite.equals("decode-speed")) {
            new DecodeSpeedCommand(quick, model, out, threads, commandLine, repo, System.err).run();
        } else {
            new SpeculationCommand(suite, quick, model, out, threads, profile, slowMotion, transports, io.ppsd.benchmarks.run.WindowChoice.parse(window), commandLine, repo, System.err).run();
        }
        return 0;
    }
}
