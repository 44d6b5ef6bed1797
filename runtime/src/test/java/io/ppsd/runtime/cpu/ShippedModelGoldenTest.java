package io.ppsd.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ppsd.runtime.tokenizer.PromptEncoder;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.Sampler;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.LayerRange;
import io.ppsd.runtime.stage.StageSpec;
import io.ppsd.runtime.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The shipped models ({@code models/ppsd-mini} and its PipeSpec draft model
 * {@code models/ppsd-mini-draft}) against their golden files, computed by PyTorch in float64
 * from the exported weights ({@code models/recipe}): prompt token ids, last-position logits, the
 * argmax at every position, 32 greedy tokens, and the last-position logits of every exit head.
 */
class ShippedModelGoldenTest {
    private static final float TOLERANCE = 2e-4f;

    @ParameterizedTest
    @ValueSource(strings = {"../models/ppsd-mini", "../models/ppsd-mini-draft"})
    void engineReproducesPyTorch(String model) throws Exception {
        Path dir = Path.of(model);
        JsonNode golden = new ObjectMapper().readTree(Files.readString(dir.resolve("golden/golden.json")));
        Tokenizer tokenizer = Tokenizer.load(dir.resolve("tokenizer.json"));
        try (var files = ModelFiles.open(dir);
             var whole = new CpuStageExecutor(files, StageSpec.whole(files.config().numLayers()), 2, LoadProgress.NONE)) {
            int dim = files.config().hiddenSize(), vocab = files.config().vocabSize();
            assertTrue(golden.get("cases").size() >= 4);
            for (JsonNode c : golden.get("cases")) {
                int[] ids = ReferenceLogitsTest.ints(c.get("input_ids"));
                assertArrayEquals(ids, PromptEncoder.of(tokenizer, files.config()).encode(c.get("text").asText()), "token ids of case " + c.get("id"));
                int n = ids.length;
                float[] hidden = new float[n * dim];
                float[] logits = new float[n * vocab];
                whole.release(1);
                whole.embed(ids, 0, n, hidden);
                whole.forward(1, 0, n, hidden);
                whole.logits(hidden, n, logits);
                for (int p = 0; p < n; p++) {
                    assertEquals(c.get("argmax_per_position").get(p).asInt(), Sampler.argmax(logits, p * vocab, vocab), "argmax at " + p);
                }
                ReferenceLogitsTest.assertClose(ReferenceLogitsTest.floats(c.get("last_logits")),
                        Arrays.copyOfRange(logits, (n - 1) * vocab, n * vocab), "case " + c.get("id") + " last logits", TOLERANCE);
                int[] greedy = ReferenceLogitsTest.ints(c.get("greedy_continuation"));
                var result = new AutoregressiveDecoder(whole).generate(GenerationRequest.greedy(ids, greedy.length), TokenListener.NONE);
                assertArrayEquals(greedy, result.generated(), "greedy continuation of case " + c.get("id"));

                for (var head : (Iterable<java.util.Map.Entry<String, JsonNode>>) c.get("head_last_logits")::fields) {
                    int exit = c.get("head_exit_layers").get(head.getKey()).asInt();
                    var spec = new StageSpec(new LayerRange(0, exit), true, false, head.getKey());
                    try (var draft = new CpuStageExecutor(files, spec, 1, LoadProgress.NONE)) {
                        float[] h = new float[n * dim];
                        float[] headLogits = new float[vocab];
                        draft.embed(ids, 0, n, h);
                        draft.forward(1, 0, n, h);
                        draft.draft(1, 0, n, h, headLogits);
                        ReferenceLogitsTest.assertClose(ReferenceLogitsTest.floats(head.getValue()), headLogits,
                                "case " + c.get("id") + " head " + head.getKey(), TOLERANCE);
                    }
                }
            }
        }
    }
}
