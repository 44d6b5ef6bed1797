package io.ppsd.benchmarks;

import io.ppsd.benchmarks.model.ModelChoice;
import io.ppsd.benchmarks.model.RandomLlama;
import io.ppsd.benchmarks.peer.JlamaDecoder;
import io.ppsd.benchmarks.report.ResultFiles;
import io.ppsd.benchmarks.run.Progress;
import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.StageSpec;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code decode-speed} suite: autoregressive decode tokens/s on CPU cores for models of
 * several sizes (ppsd-mini, ~20M and ~240M random weights), F32 and a BF16 copy, for this engine
 * and Jlama with the same thread count, interleaved in each repetition.
 */
public record DecodeSpeedCommand(boolean quick, Path model, Path out, int threads, String commandLine, RepoLayout repo, PrintStream console) {
    private static final Logger log = LoggerFactory.getLogger(DecodeSpeedCommand.class);

    /** One engine on one model file. */
    public record DecodeRow(String model, long parameters, String dtype, String engine, int threads, int promptTokens, int newTokens,
                            int repetitions, double tokensPerSecond, double tokensPerSecondMin, double tokensPerSecondMax,
                            double msPerToken, double weightGigabytes, double weightGigabytesPerSecond, String note) {}

    private record Target(String name, Path dir, long parameters, String dtype) {}

    public Path run() throws Exception {
        Path outDir = out != null ? out : repo.results(quick ? "decode-speed-quick" : "decode-speed");
        Files.createDirectories(outDir);
        int newTokens = quick ? 16 : 64, reps = quick ? 1 : 3;
        List<Target> targets = new ArrayList<>();
        Path mini = ModelChoice.resolve(model, repo);
        List<Path> f32 = new ArrayList<>(List.of(mini));
        if (!quick && model == null) {
            f32.add(ModelChoice.generated(repo, RandomLlama.random20m(), mini));
            f32.add(ModelChoice.generated(repo, RandomLlama.random240m(), mini));
        }
        for (Path dir : f32) {
            long params = parameters(dir);
            targets.add(new Target(dir.getFileName().toString(), dir, params, "F32"));
            targets.add(new Target(dir.getFileName().toString(), ModelChoice.bf16(dir, repo), params, "BF16"));
        }
        JlamaDecoder.threads(threads);
        List<DecodeRow> rows = new ArrayList<>();
        var progress = new Progress<>(console, targets, t -> t.name());
        long t0 = System.nanoTime();
        for (int i = 0; i < targets.size(); i++) {
            Target t = targets.get(i);
            progress.starting(i, t.name() + " " + t.dtype() + " (ppsd and Jlama, " + threads + " threads)");
            long s0 = System.nanoTime();
            rows.addAll(measure(t, newTokens, reps));
            double secs = (System.nanoTime() - s0) / 1e9;
            var last = rows.subList(rows.size() - 2, rows.size());
            progress.finished(t, secs, last.stream().map(r -> String.format(Locale.ROOT, "%s %.1f tok/s%s", r.engine(), r.tokensPerSecond(),
                    r.note().isEmpty() ? "" : " (" + r.note() + ")")).reduce((a, b) -> a + ", " + b).orElse(""));
        }
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("suite", "decode-speed");
        meta.put("command", commandLine);
        meta.put("date", ZonedDateTime.now().toString());
        meta.put("machine", MachineDescription.current());
        meta.put("threads", threads);
        meta.put("seconds", (System.nanoTime() - t0) / 1e9);
        ResultFiles.writeCsv(outDir.resolve("results.csv"), rows, DecodeRow.class);
        ResultFiles.writeJson(outDir.resolve("results.json"), meta, rows);
        StringBuilder md = new StringBuilder("Command: `" + commandLine + "`  \nMachine: " + MachineDescription.current() + "  \nDate: " + meta.get("date") + "\n\n");
        md.append("| model | parameters | weights | engine | threads | decode tok/s (min–max) | ms/token | weight GB | GB/s streamed | note |\n|---|---|---|---|---|---|---|---|---|---|\n");
        for (DecodeRow r : rows) {
            md.append(String.format(Locale.ROOT, "| %s | %.1f M | %s | %s | %d | %.1f (%.1f–%.1f) | %.2f | %.3f | %.1f | %s |%n", r.model(), r.parameters() / 1e6,
                    r.dtype(), r.engine(), r.threads(), r.tokensPerSecond(), r.tokensPerSecondMin(), r.tokensPerSecondMax(), r.msPerToken(),
                    r.weightGigabytes(), r.weightGigabytesPerSecond(), r.note()));
        }
        Files.writeString(outDir.resolve("results.md"), md);
        console.print(md);
        return outDir;
    }

    private List<DecodeRow> measure(Target t, int newTokens, int reps) {
        int[] prompt;
        double weightGb;
        long params = t.parameters();
        try (ModelFiles files = ModelFiles.open(t.dir())) {
            ModelConfig c = files.config();
            prompt = prompt(c, 16);
            weightGb = params * (t.dtype().equals("F32") ? 4 : 2) / 1e9;
        }
        double[] ours = new double[reps], theirs = new double[reps];
        String jlamaNote = "";
        JlamaDecoder jlama = null;
        try {
            jlama = new JlamaDecoder(t.dir(), t.dtype().equals("BF16"));
        } catch (RuntimeException | LinkageError e) {
            jlamaNote = "Jlama failed: " + e;
            log.warn("Jlama could not load {}: {}", t.dir(), e.toString());
        }
        try (ModelFiles files = ModelFiles.open(t.dir());
             var whole = new CpuStageExecutor(files, StageSpec.whole(files.config().numLayers()), threads, LoadProgress.NONE)) {
            var ar = new AutoregressiveDecoder(whole);
            // Warm both engines up (JIT) for a while, not for a count: a 240M model takes ~0.1 s a token, ppsd-mini ~1 ms.
            long warmNanos = (long) ((quick ? 1.0 : 3.0) * 1e9);
            for (long end = System.nanoTime() + warmNanos; System.nanoTime() < end; ) {
                ar.generate(GenerationRequest.greedy(prompt, 8), TokenListener.NONE);
            }
            if (jlama != null) {
                for (long end = System.nanoTime() + warmNanos; System.nanoTime() < end; ) jlama.decodeNanos(prompt, 8);
            }
            for (int r = 0; r < reps; r++) {
                for (int side = 0; side < 2; side++) {
                    boolean oursNow = (side == 0) == (r % 2 == 0);
                    if (oursNow) {
                        var res = ar.generate(GenerationRequest.greedy(prompt, newTokens), TokenListener.NONE);
                        ours[r] = res.timings().generatedTokensPerSecond();
                    } else if (jlama != null) {
                        try {
                            theirs[r] = (newTokens - 1) * 1e9 / jlama.decodeNanos(prompt, newTokens);
                        } catch (RuntimeException e) {
                            jlamaNote = "Jlama failed: " + e;
                            jlama.close();
                            jlama = null;
                        }
                    }
                }
            }
        } finally {
            if (jlama != null) jlama.close();
        }
        List<DecodeRow> rows = new ArrayList<>();
        rows.add(row(t, "ppsd", prompt.length, newTokens, ours, weightGb, ""));
        rows.add(row(t, "jlama 0.8.4", prompt.length, newTokens, jlamaNote.isEmpty() ? theirs : new double[] {Double.NaN}, weightGb, jlamaNote));
        return rows;
    }

    private DecodeRow row(Target t, String engine, int promptTokens, int newTokens, double[] tps, double weightGb, String note) {
        double[] s = tps.clone();
        Arrays.sort(s);
        double median = s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
        return new DecodeRow(t.name(), t.parameters(), t.dtype(), engine, threads, promptTokens, newTokens, tps.length, median, s[0], s[s.length - 1],
                1000 / median, weightGb, weightGb * median, note);
    }

    private static long parameters(Path dir) {
        try (ModelFiles files = ModelFiles.open(dir)) {
            ModelConfig c = files.config();
            long layer = (long) c.hiddenSize() * c.qDim() * 2 + (long) c.hiddenSize() * c.kvDim() * 2 + 3L * c.hiddenSize() * c.intermediateSize() + 2L * c.hiddenSize();
            return (long) c.numLayers() * layer + (c.tieWordEmbeddings() ? 1L : 2L) * c.vocabSize() * c.hiddenSize() + c.hiddenSize();
        }
    }

    /** Seeded token ids below 4096, valid for every model here and for the shared tokenizer. */
    private static int[] prompt(ModelConfig c, int length) {
        var r = new SplittableRandom(99);
        int[] p = new int[length];
        for (int i = 0; i < length; i++) p[i] = 2 + r.nextInt(Math.min(4096, c.vocabSize()) - 2);
        return p;
    }
}
