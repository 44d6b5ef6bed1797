package io.ppsd.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.Sampler;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.StageSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CPU engine against logits that PyTorch computed in float64 from the same stored weights
 * ({@code tools/reference/make_reference_models.py}): F32, BF16 with tied embeddings and LLaMA-3
 * RoPE scaling, F16 Mistral-type MHA, a sharded checkpoint, Qwen2 (q/k/v biases, BF16) and Qwen3
 * (per-head q/k norms, head_dim apart from hidden_size). Batched prefill and token-by-token
 * decoding both match to 1e-4, and greedy continuations are identical.
 */
class ReferenceLogitsTest {
    private static final Path ROOT = Path.of("src/test/resources/reference");

    @ParameterizedTest
    @ValueSource(strings = {"tiny-f32", "tiny-bf16-tied", "tiny-f16-mistral", "tiny-sharded", "tiny-qwen2", "tiny-qwen3"})
    void logitsMatchPyTorch(String name) throws Exception {
        JsonNode ref = new ObjectMapper().readTree(Files.readString(ROOT.resolve(name).resolve("reference.json")));
        try (var files = ModelFiles.open(ROOT.resolve(name));
             var model = new CpuStageExecutor(files, StageSpec.whole(files.config().numLayers()), 2, LoadProgress.NONE)) {
            int dim = files.config().hiddenSize(), vocab = files.config().vocabSize();
            for (JsonNode c : ref.get("cases")) {
                int[] ids = ints(c.get("input_ids"));
                int n = ids.length;
                // Batched prefill: every position at once.
                float[] hidden = new float[n * dim];
                float[] logits = new float[n * vocab];
                model.release(1);
                model.embed(ids, 0, n, hidden);
                model.forward(1, 0, n, hidden);
                model.logits(hidden, n, logits);
                // Token by token through the KV cache.
                float[] step = new float[dim];
                float[] stepLogits = new float[vocab];
                model.release(2);
                for (int p = 0; p < n; p++) {
                    model.embed(ids, p, 1, step);
                    model.forward(2, p, 1, step);
                    model.logits(step, 1, stepLogits);
                    float[] expected = floats(c.get("logits").get(p));
                    assertClose(expected, java.util.Arrays.copyOfRange(logits, p * vocab, (p + 1) * vocab), name + " prefill pos " + p);
                    assertClose(expected, stepLogits, name + " decode pos " + p);
                    assertEquals(c.get("argmax").get(p).asInt(), Sampler.argmax(logits, p * vocab, vocab), name + " argmax pos " + p);
                }
                int[] greedy = ints(c.get("greedy_continuation"));
                var result = new AutoregressiveDecoder(model).generate(GenerationRequest.greedy(ids, greedy.length), TokenListener.NONE);
                assertArrayEquals(greedy, result.generated(), name + " greedy continuation of " + n + " tokens");
            }
        }
    }

    static void assertClose(float[] expected, float[] actual, String what) {
        assertClose(expected, actual, what, 1e-4f);
    }

    static void assertClose(float[] expected, float[] actual, String what, float tolerance) {
        assertEquals(expected.length, actual.length, what + ": length");
        float max = 0;
        for (int i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(expected[i] - actual[i]));
        assertTrue(max <= tolerance, what + ": max |Δlogit| = " + max);
    }

    static int[] ints(JsonNode a) {
        int[] r = new int[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = a.get(i).asInt();
        return r;
    }

    static float[] floats(JsonNode a) {
        float[] r = new float[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = (float) a.get(i).asDouble();
        return r;
    }
}
