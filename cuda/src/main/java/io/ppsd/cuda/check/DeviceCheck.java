package io.ppsd.cuda.check;

import io.ppsd.cuda.CudaSettings;
import io.ppsd.cuda.CudaStageExecutor;
import io.ppsd.cuda.KvDtype;
import io.ppsd.runtime.decode.Sampler;
import io.ppsd.runtime.model.DType;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.StageSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The Java half of the GPU check (cuda/gpu-check/run.sh; issue #14), run from the packed runtime
 * on a machine with a GPU and no JDK:
 *
 * <pre>
 *   agreement --dir D          the CUDA-vs-CPU agreement scenario ({@link AgreementRun}) on random
 *                              models: F32/F16/BF16 weights, aligned and ragged rows, F32 and BF16
 *                              caches; exit 1 on any difference past its bound
 *   decode --model M --contexts 128,512,2048 --tokens 64 --out F.json
 *                              batch-1 greedy decoding of model M on the whole-model CUDA stage:
 *                              for each context, a prompt of that length ({@link #prompt}) is prefilled, then
 *                              --tokens steps are timed, device-resident (one graph launch, 8 bytes
 *                              back per token) and through the host (hidden state and logits row
 *                              back, argmax in Java), which must choose the same tokens, and the
 *                              device step sampling at temperature 0.8; bytes each token must read
 *                              (weights + cache); and pipeline stage calls of 1, 4 and 8 rows
 * </pre>
 *
 * Timings are wall-clock around synchronous calls (each step returns its token), medians of the
 * per-token times after 8 warm-up steps.
 */
public final class DeviceCheck {
    private DeviceCheck() {}

    public static void main(String[] args) throws IOException {
        if (args.length == 0) usage("no command");
        var options = new Options(Arrays.copyOfRange(args, 1, args.length));
        switch (args[0]) {
            case "agreement" -> agreement(Path.of(options.get("dir", "/tmp/ppsd-agreement")));
            case "decode" -> decode(Path.of(options.require("model")), options.ints("contexts", "128,512,2048"),
                    Integer.parseInt(options.get("tokens", "64")), Path.of(options.require("out")));
            default -> usage("unknown command " + args[0]);
        }
    }

    private static void agreement(Path dir) {
        List<RandomCheckpoint> checkpoints = List.of(RandomCheckpoint.aligned(DType.F32, 11), RandomCheckpoint.aligned(DType.F16, 12),
                RandomCheckpoint.aligned(DType.BF16, 13), RandomCheckpoint.ragged(DType.BF16, 15));
        int failed = 0;
        for (KvDtype kv : KvDtype.values()) {
            for (RandomCheckpoint checkpoint : checkpoints) {
                String what = checkpoint.name() + ", KV " + kv;
                try {
                    double worst = AgreementRun.wholeModel(checkpoint, kv, dir.resolve(checkpoint.name() + "-kv-" + kv));
                    System.out.printf(Locale.ROOT, "agreement %-28s ok   worst relative difference %.2e (bound %.1e)%n", what, worst,
                            Agreement.forKv(kv).relative());
                } catch (AssertionError | RuntimeException e) {
                    failed++;
                    System.out.printf(Locale.ROOT, "agreement %-28s FAIL %s%n", what, e);
                }
            }
        }
        System.out.println(failed == 0 ? "agreement: all within their bounds" : "agreement: " + failed + " failed");
        if (failed > 0) System.exit(1);
    }

    private static void decode(Path model, int[] contexts, int tokens, Path out) throws IOException {
        CudaSettings settings = CudaSettings.load();
        List<String> rows = new ArrayList<>();
        long loadStart = System.nanoTime();
        try (ModelFiles files = ModelFiles.open(model);
             var stage = new CudaStageExecutor(files, StageSpec.whole(files.config().numLayers()), settings, LoadProgress.NONE)) {
            double loadSeconds = (System.nanoTime() - loadStart) / 1e9;
            ModelConfig c = files.config();
            long weightBytes = weightBytesPerToken(files);
            int kvBytes = settings.kvDtype() == KvDtype.BF16 ? 2 : 4;
            System.out.printf(Locale.ROOT, "decode: %s, %d layers, hidden %d, %s weights %.2f GB read per token, KV %s, graphs %s, loaded in %.1f s on %s%n",
                    model.getFileName(), c.numLayers(), c.hiddenSize(), files.tensor("lm_head.weight").dtype(), weightBytes / 1e9,
                    settings.kvDtype(), settings.graphs() ? "on" : "off", loadSeconds, stage.device().name());
            long seq = 1;
            boolean pathsAgree = true;
            List<String> stageCalls = new ArrayList<>();
            for (int context : contexts) {
                if (context + 2 * (tokens + 8) > c.maxPositions()) {
                    System.out.printf("decode: context %d skipped (the model's max_position_embeddings is %d)%n", context, c.maxPositions());
                    continue;
                }
                long cacheBytes = 2L * c.numLayers() * c.numKvHeads() * c.headDim() * kvBytes;  // per cached position
                int[] prompt = prompt(context, c.vocabSize());
                int[] deviceTokens = null;
                for (String path : new String[] {"device", "host", "sampled"}) {
                    var uniform = new java.util.SplittableRandom(context);
                    float[] hidden = new float[context * c.hiddenSize()];
                    long t0 = System.nanoTime();
                    stage.embed(prompt, 0, context, hidden);
                    stage.forward(seq, 0, context, hidden);
                    float[] last = Arrays.copyOfRange(hidden, (context - 1) * c.hiddenSize(), context * c.hiddenSize());
                    float[] logits = new float[c.vocabSize()];
                    stage.logits(last, 1, logits);
                    double prefillSeconds = (System.nanoTime() - t0) / 1e9;
                    int token = Sampler.argmax(logits, 0, c.vocabSize());
                    double[] times = new double[tokens];
                    float[] row = new float[c.hiddenSize()];
                    int[] produced = new int[tokens];
                    for (int step = -8, pos = context; step < tokens; step++, pos++) {
                        long s = System.nanoTime();
                        if (path.equals("device")) {
                            token = stage.greedyStep(seq, pos, token);
                        } else if (path.equals("sampled")) {
                            token = stage.sampledStep(seq, pos, token, 0.8f, uniform.nextDouble());
                        } else {
                            stage.embed(new int[] {token}, 0, 1, row);
                            stage.forward(seq, pos, 1, row);
                            stage.logits(row, 1, logits);
                            token = Sampler.argmax(logits, 0, c.vocabSize());
                        }
                        if (step >= 0) {
                            times[step] = (System.nanoTime() - s) / 1e9;
                            produced[step] = token;
                        }
                    }
                    stage.release(seq++);
                    if (deviceTokens == null) {
                        deviceTokens = produced;
                    } else if (path.equals("host") && !Arrays.equals(deviceTokens, produced)) {
                        pathsAgree = false;
                        System.out.println("decode: context " + context + ": the device-resident step chose " + Arrays.toString(deviceTokens)
                                + ", the host path " + Arrays.toString(produced));
                    }
                    double[] sorted = times.clone();
                    Arrays.sort(sorted);
                    double median = sorted[tokens / 2];
                    long bytes = weightBytes + cacheBytes * (context + 8 + tokens / 2);
                    System.out.printf(Locale.ROOT, "decode: context %5d %-6s %8.3f ms/token  %7.1f tokens/s  %7.1f GB/s read  (prefill %.3f s)%n",
                            context, path, median * 1e3, 1 / median, bytes / median / 1e9, prefillSeconds);
                    rows.add(String.format(Locale.ROOT,
                            "{\"context\": %d, \"path\": \"%s\", \"median_s\": %.6e, \"p90_s\": %.6e, \"tokens_per_s\": %.3f, \"bytes_per_token\": %d,"
                                    + " \"prefill_s\": %.4f, \"tokens\": %s}",
                            context, path, median, sorted[(int) (tokens * 0.9)], 1 / median, bytes, prefillSeconds, Arrays.toString(produced)));
                }
                stageCalls.add(stageCalls(stage, seq++, prompt, c, tokens));
            }
            Files.writeString(out, String.format(Locale.ROOT,
                    "{\"engine\": \"ppsd-cuda\", \"device\": \"%s\", \"layers\": %d, \"weight_bytes_per_token\": %d, \"kv_dtype\": \"%s\","
                            + " \"graphs\": %b, \"load_s\": %.2f, \"rows\": [\n  %s\n], \"stage_calls\": [\n  %s\n]}%n",
                    stage.device().name(), c.numLayers(), weightBytes, settings.kvDtype(), settings.graphs(), loadSeconds, String.join(",\n  ", rows),
                    String.join(",\n  ", stageCalls)));
            if (!pathsAgree) System.exit(1);
        }
    }

    /**
     * What a pipeline stage call costs at this context by its row count: forward of 1, 4 and 8 rows
     * (decode, a PPSD verification window, a batch of sessions) with the hidden rows to and from the
     * host, as the StageExecutor seam moves them, each call rolled back after it (medians of
     * {@code reps}). Memory-bound decoding reads the weights once per call, so 8 rows should cost
     * little more than 1: the premise of PPSD's verification and of batching (issue #13).
     */
    private static String stageCalls(CudaStageExecutor stage, long seq, int[] prompt, ModelConfig c, int reps) {
        int context = prompt.length, dim = c.hiddenSize();
        float[] hidden = new float[context * dim];
        stage.embed(prompt, 0, context, hidden);
        stage.forward(seq, 0, context, hidden);
        List<String> entries = new ArrayList<>();
        StringBuilder line = new StringBuilder("stage call: context " + context);
        for (int n : new int[] {1, 4, 8}) {
            float[] rows = new float[n * dim];
            double[] times = new double[reps];
            for (int rep = -4; rep < reps; rep++) {
                stage.embed(Arrays.copyOf(prompt, n), 0, n, rows);
                long t = System.nanoTime();
                stage.forward(seq, context, n, rows);
                if (rep >= 0) times[rep] = (System.nanoTime() - t) / 1e9;
                stage.truncate(seq, context);
            }
            Arrays.sort(times);
            double median = times[reps / 2];
            line.append(String.format(Locale.ROOT, "  %d rows %.3f ms", n, median * 1e3));
            entries.add(String.format(Locale.ROOT, "{\"context\": %d, \"rows\": %d, \"median_s\": %.6e}", context, n, median));
        }
        stage.release(seq);
        System.out.println(line);
        return String.join(",\n  ", entries);
    }

    /** The prompt of a context: a formula write_model.py's peer (peer.py) computes alike, so both decode the same tokens. */
    static int[] prompt(int length, int vocab) {
        int[] p = new int[length];
        for (int i = 0; i < length; i++) p[i] = 2 + (int) ((i * 7919L + length) % (vocab - 2));
        return p;
    }

    /** Every weight a decode step reads: all tensors but the embedding table (one row of it). */
    static long weightBytesPerToken(ModelFiles files) {
        ModelConfig c = files.config();
        long bytes = 0;
        for (int i = 0; i < c.numLayers(); i++) {
            for (String name : new String[] {"input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                    "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
                bytes += files.tensor("model.layers." + i + "." + name + ".weight").data().byteSize();
            }
        }
        return bytes + files.tensor("model.norm.weight").data().byteSize() + files.lmHead().data().byteSize();
    }

    private static void usage(String why) {
        System.err.println("DeviceCheck: " + why + "\nusage: agreement [--dir D] | decode --model M [--contexts 128,512,2048] [--tokens 64] --out F.json");
        System.exit(2);
    }

    /** --name value pairs. */
    private record Options(String[] args) {
        String get(String name, String fallback) {
            for (int i = 0; i + 1 < args.length; i++) if (args[i].equals("--" + name)) return args[i + 1];
            return fallback;
        }

        String require(String name) {
            String v = get(name, null);
            if (v == null) usage("--" + name + " is required");
            return v;
        }

        int[] ints(String name, String fallback) {
            return Arrays.stream(get(name, fallback).split(",")).mapToInt(Integer::parseInt).toArray();
        }
    }
}
