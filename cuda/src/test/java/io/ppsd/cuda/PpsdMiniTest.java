package io.ppsd.cuda;

import io.ppsd.cuda.check.BackendPair;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ppsd.runtime.decode.Sampler;
import io.ppsd.runtime.heads.ExitHeadFile;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.LayerRange;
import io.ppsd.runtime.stage.StageSpec;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The shipped small model ({@code models/ppsd-mini}, trained weights, tied embeddings) on both
 * backends: whole-model prefill, greedy decode, verification and rollback, and every exit head it
 * ships. Skipped while the model has not been exported yet.
 */
class PpsdMiniTest {
    private static final Logger log = LoggerFactory.getLogger(PpsdMiniTest.class);
    private static final Path MODEL = Path.of("..", "models", "ppsd-mini");
    private static final List<String> HEAD_KEYS = List.of("format_version", "name", "kind", "exit_layer", "tensors", "trained", "description");

    @BeforeAll
    static void modelAndDriver() {
        assumeTrue(Files.isRegularFile(MODEL.resolve("config.json")) && Files.isRegularFile(MODEL.resolve("model.safetensors")),
                "models/ppsd-mini is not exported yet");
        EmulatedDriver.require();
    }

    @Test
    void wholeModelAgreesWithCpu() throws IOException {
        try (ModelFiles files = ModelFiles.open(MODEL); var pair = new BackendPair(files, StageSpec.whole(files.config().numLayers()), 32, KvDtype.BF16)) {
            int vocab = files.config().vocabSize();
            int[] prompt = goldenPrompt(files.config().vocabSize());
            float[][] hidden = pair.embed(prompt, 0, prompt.length);
            pair.forward(1, 0, prompt.length, hidden);
            float[][] logits = pair.logits(hidden, prompt.length);
            int decided = pair.agreement.assertSameGreedy("ppsd-mini prefill", logits[0], logits[1], prompt.length, vocab);
            assertTrue(decided > 0, "no prefill row had a clear greedy token");

            int pos = prompt.length, next = Sampler.argmax(logits[0], (prompt.length - 1) * vocab, vocab);
            for (int step = 0; step < 8; step++, pos++) {
                float[][] h = pair.embed(new int[] {next}, 0, 1);
                pair.forward(1, pos, 1, h);
                float[][] l = pair.logits(h, 1);
                pair.agreement.assertSameGreedy("ppsd-mini decode " + step, l[0], l[1], 1, vocab);
                next = Sampler.argmax(l[0], 0, vocab);
            }
            int[] verify = {next, 5, 6, 7};
            float[][] h = pair.embed(verify, 0, verify.length);
            pair.forward(1, pos, verify.length, h);
            pair.logits(h, verify.length);
            pair.truncate(1, pos + 1);  // keep the first, reject three
            h = pair.embed(new int[] {9, 10}, 0, 2);
            pair.forward(1, pos + 1, 2, h);
            pair.logits(h, 2);
        }
    }

    @Test
    void everyShippedExitHeadAgreesWithCpu() throws IOException {
        Path model = readableHeads(Path.of("target", "ppsd-mini-view"));
        try (ModelFiles files = ModelFiles.open(model); Arena arena = Arena.ofConfined()) {
            List<String> heads = ExitHeadFile.available(model);
            assumeTrue(!heads.isEmpty(), "ppsd-mini ships no exit heads yet");
            int vocab = files.config().vocabSize();
            int[] prompt = goldenPrompt(vocab);
            for (String name : heads) {
                int exit = ExitHeadFile.read(model, name, 1, files.config(), arena).exitLayer();
                var spec = new StageSpec(new LayerRange(0, exit), true, false, name);
                try (var pair = new BackendPair(files, spec, 16, KvDtype.BF16)) {
                    float[][] hidden = pair.embed(prompt, 0, prompt.length);
                    pair.forward(1, 0, prompt.length, hidden);
                    float[][] drafted = pair.draft(1, 0, prompt.length, hidden);
                    int pos = prompt.length;
                    for (int step = 0; step < 3; step++, pos++) {
                        int token = Sampler.argmax(drafted[0], 0, vocab);
                        float[][] h = pair.embed(new int[] {token}, 0, 1);
                        pair.forward(1, pos, 1, h);
                        drafted = pair.draft(1, pos, 1, h);
                        pair.agreement.assertSameGreedy(name + " draft " + step, drafted[0], drafted[1], 1, vocab);
                    }
                }
                log.info("ppsd-mini exit head {} (layer {}): CUDA agrees with CPU", name, exit);
            }
        }
    }

    /**
     * The model as the runtime can read it: the weights linked, the head descriptors copied without
     * keys that the runtime's ExitHeadFile does not accept (the export writes a "dtype" key it
     * rejects today). The heads' weights are untouched.
     */
    private static Path readableHeads(Path view) throws IOException {
        if (Files.isDirectory(view)) {
            try (var old = Files.walk(view)) {
                for (Path p : old.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
            }
        }
        Files.createDirectories(view.resolve("exit_heads"));
        for (String f : new String[] {"config.json", "model.safetensors"}) {
            Files.createSymbolicLink(view.resolve(f), MODEL.resolve(f).toAbsolutePath());
        }
        Path heads = MODEL.resolve("exit_heads");
        if (!Files.isDirectory(heads)) return view;
        var mapper = new ObjectMapper();
        try (var list = Files.list(heads)) {
            for (Path p : list.toList()) {
                String name = p.getFileName().toString();
                if (name.endsWith(".json")) {
                    var json = (com.fasterxml.jackson.databind.node.ObjectNode) mapper.readTree(p.toFile());
                    json.retain(HEAD_KEYS);
                    Files.writeString(view.resolve("exit_heads").resolve(name), json.toString());
                } else {
                    Files.createSymbolicLink(view.resolve("exit_heads").resolve(name), p.toAbsolutePath());
                }
            }
        }
        return view;
    }

    /** Token ids from the model's golden tokenizer cases (real text), concatenated. */
    private static int[] goldenPrompt(int vocab) throws IOException {
        Path golden = MODEL.resolve("golden").resolve("tokens.json");
        List<Integer> ids = new ArrayList<>();
        if (Files.isRegularFile(golden)) {
            JsonNode root = new ObjectMapper().readTree(golden.toFile());
            for (JsonNode c : root.path("cases")) for (JsonNode id : c.path("ids")) if (ids.size() < 48) ids.add(id.asInt());
        }
        if (ids.isEmpty()) for (int i = 0; i < 24; i++) ids.add(3 + (i * 37) % (vocab - 3));
        return ids.stream().mapToInt(Integer::intValue).filter(id -> id < vocab).toArray();
    }
}
