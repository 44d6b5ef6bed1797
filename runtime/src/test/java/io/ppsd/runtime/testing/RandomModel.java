package io.ppsd.runtime.testing;

import io.ppsd.runtime.model.SafetensorsFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a LLaMA model with random F32 weights in the Hugging Face layout, plus linear and
 * transformer exit heads at a given layer, for tests that compare decoding strategies with each
 * other (numbers from outside the code under test pin the forward pass in other tests).
 *
 * <p>{@code lateScale} scales the output projections of the layers after the exit layer: 0 makes
 * them identity maps, so the {@code norm} head agrees with the full model (α = 1); 1 gives an
 * ordinary random model, where drafts are mostly wrong (α near 0).
 */
public record RandomModel(int layers, int hidden, int heads, int kvHeads, int ffn, int vocab, int maxPositions, long seed) {

    public static RandomModel small(long seed) {
        return new RandomModel(8, 32, 4, 2, 48, 64, 256, seed);
    }

    public Path write(Path dir, int exitLayer, float lateScale) {
        return write(dir, exitLayer, lateScale, layers);
    }

    /**
     * The same model cut after its first {@code keptLayers} layers (the same embedding, final norm
     * and LM head): a separate, smaller model with the same vocabulary — the draft model of a
     * PipeSpec hierarchy whose target is {@code write(dir, exitLayer, lateScale)}. Its predictions
     * agree with the full model's the more, the smaller {@code lateScale} (0: always, for
     * {@code keptLayers ≥ exitLayer}).
     */
    public Path writeTruncated(Path dir, int exitLayer, float lateScale, int keptLayers) {
        if (keptLayers < 1 || keptLayers > layers) throw new IllegalArgumentException("kept layers " + keptLayers + " not in [1, " + layers + "]");
        return write(dir, exitLayer, lateScale, keptLayers);
    }

    private Path write(Path dir, int exitLayer, float lateScale, int keptLayers) {
        try {
            Files.createDirectories(dir.resolve("exit_heads"));
            int headDim = hidden / heads;
            Files.writeString(dir.resolve("config.json"), """
                    {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": %d,
                     "intermediate_size": %d, "num_hidden_layers": %d, "num_attention_heads": %d,
                     "num_key_value_heads": %d, "head_dim": %d, "vocab_size": %d, "max_position_embeddings": %d,
                     "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false,
                     "bos_token_id": 0, "eos_token_id": 1, "hidden_act": "silu", "torch_dtype": "float32"}
                    """.formatted(hidden, ffn, keptLayers, heads, kvHeads, headDim, vocab, maxPositions));
            var random = new SplittableRandom(seed);
            Map<String, float[]> t = new LinkedHashMap<>();
            Map<String, long[]> shapes = new LinkedHashMap<>();
            put(t, shapes, "model.embed_tokens.weight", random, 1.0f, vocab, hidden);
            for (int i = 0; i < layers; i++) {
                float outScale = i >= exitLayer ? lateScale : 1f;
                layer(t, shapes, "model.layers." + i + ".", random, outScale);
            }
            for (int i = keptLayers; i < layers; i++) {
                for (String suffix : LAYER_TENSORS) {
                    t.remove("model.layers." + i + "." + suffix);
                    shapes.remove("model.layers." + i + "." + suffix);
                }
            }
            ones(t, shapes, "model.norm.weight", random, hidden);
            put(t, shapes, "lm_head.weight", random, 1.0f, vocab, hidden);
            Files.write(dir.resolve("model.safetensors"), SafetensorsFile.encode(t, shapes));

            Map<String, float[]> lin = new LinkedHashMap<>();
            Map<String, long[]> linShapes = new LinkedHashMap<>();
            ones(lin, linShapes, "norm.weight", random, hidden);
            put(lin, linShapes, "proj.weight", random, 1.0f, vocab, hidden);
            writeHead(dir, "linear-l" + exitLayer, "linear", exitLayer, lin, linShapes);

            Map<String, float[]> tr = new LinkedHashMap<>();
            Map<String, long[]> trShapes = new LinkedHashMap<>();
            layer(tr, trShapes, "layer.", random, 1f);
            ones(tr, trShapes, "norm.weight", random, hidden);
            writeHead(dir, "transformer-l" + exitLayer, "transformer", exitLayer, tr, trShapes);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static final String[] LAYER_TENSORS = {"input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
            "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight", "mlp.gate_proj.weight",
            "mlp.up_proj.weight", "mlp.down_proj.weight"};

    private void layer(Map<String, float[]> t, Map<String, long[]> s, String p, SplittableRandom r, float outScale) {
        int headDim = hidden / heads;
        float in = (float) (1 / Math.sqrt(hidden));
        ones(t, s, p + "input_layernorm.weight", r, hidden);
        put(t, s, p + "self_attn.q_proj.weight", r, 2 * in, heads * headDim, hidden);
        put(t, s, p + "self_attn.k_proj.weight", r, 2 * in, kvHeads * headDim, hidden);
        put(t, s, p + "self_attn.v_proj.weight", r, in, kvHeads * headDim, hidden);
        put(t, s, p + "self_attn.o_proj.weight", r, in * outScale, hidden, heads * headDim);
        ones(t, s, p + "post_attention_layernorm.weight", r, hidden);
        put(t, s, p + "mlp.gate_proj.weight", r, in, ffn, hidden);
        put(t, s, p + "mlp.up_proj.weight", r, in, ffn, hidden);
        put(t, s, p + "mlp.down_proj.weight", r, (float) (outScale / Math.sqrt(ffn)), hidden, ffn);
    }

    private static void put(Map<String, float[]> t, Map<String, long[]> s, String name, SplittableRandom r, float scale, int rows, int cols) {
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * scale);
        t.put(name, v);
        s.put(name, new long[] {rows, cols});
    }

    private static void ones(Map<String, float[]> t, Map<String, long[]> s, String name, SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (1 + 0.1 * r.nextGaussian());
        t.put(name, v);
        s.put(name, new long[] {n});
    }

    private static void writeHead(Path dir, String name, String kind, int exitLayer, Map<String, float[]> t, Map<String, long[]> s) throws IOException {
        Files.write(dir.resolve("exit_heads").resolve(name + ".safetensors"), SafetensorsFile.encode(t, s));
        Files.writeString(dir.resolve("exit_heads").resolve(name + ".json"),
                "{\"format_version\": 1, \"name\": \"%s\", \"kind\": \"%s\", \"exit_layer\": %d}".formatted(name, kind, exitLayer));
    }

    /** A deterministic pseudo-random prompt. */
    public int[] prompt(long promptSeed, int length) {
        var r = new SplittableRandom(promptSeed);
        int[] p = new int[length];
        for (int i = 0; i < length; i++) p[i] = 2 + r.nextInt(vocab - 2);
        return p;
    }
}
