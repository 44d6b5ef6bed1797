package io.ppsd.runtime.heads;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.LayerRange;
import io.ppsd.runtime.stage.StageSpec;
import io.ppsd.runtime.tokenizer.PromptEncoder;
import io.ppsd.runtime.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Heads written by {@code tools/train-heads/train_exit_heads.py} load in the runtime: the trainer runs a
 * few steps on a copy of {@code models/ppsd-mini}, then every head it wrote is loaded by a drafting
 * {@link CpuStageExecutor} and drafts finite logits that equal the trainer's own forward of the same head.
 * Skipped (with the reason) where {@code /usr/bin/python3} cannot import torch.
 */
class TrainedHeadsLoadTest {
    private static final Path REPO = Path.of("..").toAbsolutePath().normalize();
    private static final Path MINI = REPO.resolve("models/ppsd-mini");
    private static final String PYTHON = "/usr/bin/python3";
    private static final List<String> HEADS = List.of("norm-l4", "linear-l4", "transformer-l4", "transformer-l8");
    private static final float TOLERANCE = 2e-4f;

    /** Logits of each head at the last position of the given ids, by the trainer's PyTorch forward. */
    private static final String PY_LOGITS = String.join("\n",
            "import json, sys",
            "import torch",
            "sys.path.insert(0, 'tools/train-heads')",
            "import train_exit_heads as T",
            "torch.set_num_threads(1)",
            "d, ids = sys.argv[1], json.loads(sys.argv[2])",
            "model = T.FrozenModel(d, dtype=torch.float64)",
            "out = {}",
            "for name in sys.argv[3:]:",
            "    meta = json.load(open(f'{d}/exit_heads/{name}.json'))",
            "    head = T.Head(meta['kind'], meta['exit_layer'], model)",
            "    if meta['tensors']:",
            "        st = T.SafetensorsFile(f'{d}/exit_heads/{name}.safetensors')",
            "        head.load_state({k: st.get(k) for k in st.names()})",
            "    with torch.no_grad():",
            "        xn, hidden = model.forward(torch.tensor([ids]), exits=(head.E,))",
            "        out[name] = head.logits(head.features(hidden[head.E]))[0, -1].tolist()",
            "print(json.dumps(out))");

    private static String skipReason;

    @BeforeAll
    static void checkPython() throws Exception {
        String reason;
        if (!Files.isExecutable(Path.of(PYTHON))) {
            reason = PYTHON + " not found";
        } else {
            Result r = run(List.of(PYTHON, "-c", "import torch, numpy, regex"), 120);
            reason = r.exit == 0 ? null : PYTHON + " cannot import torch/numpy/regex (apt-get install python3-torch "
                    + "python3-numpy python3-regex): " + r.lastLine();
        }
        if (reason != null) System.out.println("TrainedHeadsLoadTest skipped: " + reason);
        skipReason = reason;
    }

    @Test
    void trainedHeadsLoadAndDraft(@TempDir Path dir) throws Exception {
        assumeTrue(skipReason == null, skipReason);
        for (String f : List.of("config.json", "model.safetensors", "tokenizer.json")) {
            Files.copy(MINI.resolve(f), dir.resolve(f));
        }
        Result train = run(List.of(PYTHON, "tools/train-heads/train_exit_heads.py", dir.toString(),
                "--heads", "norm:4,linear:4,transformer:4,transformer:8",
                "--jsonl", MINI.resolve("prompts/code.jsonl").toString(),
                "--steps", "3", "--batch", "2", "--seq", "32", "--threads", "1", "--lr", "3e-3", "--warmup", "0",
                "--heldout", "0.1", "--log-every", "0"), 300);
        assertEquals(0, train.exit, "trainer failed:\n" + train.output);
        assertTrue(train.output.contains("α held-out"), train.output);

        Path headsDir = dir.resolve("exit_heads");
        assertEquals(HEADS.stream().sorted().toList(), ExitHeadFile.available(dir), "heads listed by the runtime");
        assertTrue(!Files.exists(headsDir.resolve("norm-l4.safetensors")), "a norm head has no weights file");

        Tokenizer tokenizer = Tokenizer.load(dir.resolve("tokenizer.json"));
        try (var files = ModelFiles.open(dir)) {
            int[] ids = PromptEncoder.of(tokenizer, files.config()).encode("    public static void main(String[] args) {");
            List<String> cmd = new ArrayList<>(List.of(PYTHON, "-c", PY_LOGITS, dir.toString(), Arrays.toString(ids)));
            cmd.addAll(HEADS);
            Result ref = run(cmd, 300);
            assertEquals(0, ref.exit, "reference logits failed:\n" + ref.output);
            JsonNode expected = new ObjectMapper().readTree(ref.lastLine());

            int dim = files.config().hiddenSize(), vocab = files.config().vocabSize(), n = ids.length;
            float[] normLogits = null;
            for (String name : HEADS) {
                int exit = ExitHeadFile.resolveExitLayer(dir, files.config(), name, null);
                assertEquals(Integer.parseInt(name.substring(name.lastIndexOf('l') + 1)), exit, name);
                var spec = new StageSpec(new LayerRange(0, exit), true, false, name);
                try (var draft = new CpuStageExecutor(files, spec, 1, LoadProgress.NONE)) {
                    float[] h = new float[n * dim];
                    float[] logits = new float[vocab];
                    draft.embed(ids, 0, n, h);
                    draft.forward(1, 0, n, h);
                    draft.draft(1, 0, n, h, logits);
                    for (int i = 0; i < vocab; i++) assertTrue(Float.isFinite(logits[i]), name + ": logit " + i + " = " + logits[i]);
                    JsonNode want = expected.get(name);
                    assertEquals(vocab, want.size(), name);
                    float maxDiff = 0;
                    for (int i = 0; i < vocab; i++) maxDiff = Math.max(maxDiff, Math.abs(logits[i] - (float) want.get(i).asDouble()));
                    assertTrue(maxDiff <= TOLERANCE, name + ": runtime draft logits differ from the trainer's by " + maxDiff);
                    if (name.equals("norm-l4")) normLogits = logits;
                    if (name.equals("linear-l4")) {
                        float diff = 0;
                        for (int i = 0; i < vocab; i++) diff = Math.max(diff, Math.abs(logits[i] - normLogits[i]));
                        assertTrue(diff > 1e-3, "linear-l4 after training should differ from its initialization (= norm-l4)");
                    }
                }
            }
            JsonNode meta = new ObjectMapper().readTree(Files.readString(headsDir.resolve("transformer-l8.json")));
            assertEquals(3, meta.path("trained").path("steps").asInt(), meta.toString());
        }
    }

    private record Result(int exit, String output) {
        String lastLine() {
            String[] lines = output.strip().split("\n");
            return lines[lines.length - 1];
        }
    }

    /** Runs a command from the repository root with a bounded wait; stdout and stderr together. */
    private static Result run(List<String> cmd, int timeoutSeconds) throws IOException, InterruptedException {
        Path log = Files.createTempFile("train-heads", ".log");
        try {
            Process p = new ProcessBuilder(cmd).directory(REPO.toFile()).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                return new Result(-1, "timed out after " + timeoutSeconds + " s:\n" + Files.readString(log, StandardCharsets.UTF_8));
            }
            return new Result(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(log);
        }
    }
}
