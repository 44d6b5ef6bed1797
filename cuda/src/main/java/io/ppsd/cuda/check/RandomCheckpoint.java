package io.ppsd.cuda.check;

import io.ppsd.runtime.model.DType;
import io.ppsd.runtime.model.SafetensorsFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a LLaMA model with random weights stored as F32, F16 or BF16 (Hugging Face layout), with
 * a linear and a transformer exit head at {@code exitLayer}: the same recipe as the runtime's test
 * RandomModel, plus the half-precision dtypes the GPU keeps weights in. Both backends then read the
 * very same (rounded) weights.
 */
public record RandomCheckpoint(int layers, int hidden, int heads, int kvHeads, int headDim, int ffn, int vocab, int maxPositions, DType dtype, long seed) {

    /** Row lengths that are multiples of 8: the kernels' 16-byte vector paths. */
    public static RandomCheckpoint aligned(DType dtype, long seed) {
        return new RandomCheckpoint(4, 64, 4, 2, 16, 96, 96, 256, dtype, seed);
    }

    /** Odd row lengths (36, 44, head_dim 18): the kernels' scalar tail paths. */
    public static RandomCheckpoint ragged(DType dtype, long seed) {
        return new RandomCheckpoint(3, 36, 2, 1, 18, 44, 70, 128, dtype, seed);
    }

    /** Wide heads and a long context: attention over several 32-position chunks per warp. */
    public static RandomCheckpoint longContext(DType dtype, long seed) {
        return new RandomCheckpoint(2, 128, 2, 1, 64, 128, 64, 512, dtype, seed);
    }

    public String name() {
        return dtype + "-" + layers + "x" + hidden + "-hd" + headDim;
    }

    /** The model alone (no exit heads, no frequency list): for shapes too large to write twice. */
    public Path writeModel(Path dir) {
        try {
            Files.createDirectories(dir);
            writeModelFiles(dir, new SplittableRandom(seed));
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void writeModelFiles(Path dir, SplittableRandom random) throws IOException {
        Files.writeString(dir.resolve("config.json"), """
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": %d,
                 "intermediate_size": %d, "num_hidden_layers": %d, "num_attention_heads": %d,
                 "num_key_value_heads": %d, "head_dim": %d, "vocab_size": %d, "max_position_embeddings": %d,
                 "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false,
                 "bos_token_id": 0, "eos_token_id": 1, "hidden_act": "silu"}
                """.formatted(hidden, ffn, layers, heads, kvHeads, headDim, vocab, maxPositions));
        Map<String, float[]> t = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        put(t, shapes, "model.embed_tokens.weight", random, 1.0f, vocab, hidden);
        for (int i = 0; i < layers; i++) layer(t, shapes, "model.layers." + i + ".", random);
        norm(t, shapes, "model.norm.weight", random);
        put(t, shapes, "lm_head.weight", random, 1.0f, vocab, hidden);
        Files.write(dir.resolve("model.safetensors"), encode(t, shapes));
    }

    public Path write(Path dir, int exitLayer) {
        try {
            Files.createDirectories(dir.resolve("exit_heads"));
            var random = new SplittableRandom(seed);
            writeModelFiles(dir, random);
            // A frequency order for reduced-vocabulary heads: the ids in a seeded random order.
            int[] order = java.util.stream.IntStream.range(0, vocab).toArray();
            for (int i = vocab - 1; i > 0; i--) {
                int j = random.nextInt(i + 1), x = order[i];
                order[i] = order[j];
                order[j] = x;
            }
            io.ppsd.runtime.heads.DraftVocabulary.write(dir, order, "random order (test checkpoint)");

            Map<String, float[]> lin = new LinkedHashMap<>();
            Map<String, long[]> linShapes = new LinkedHashMap<>();
            norm(lin, linShapes, "norm.weight", random);
            put(lin, linShapes, "proj.weight", random, 1.0f, vocab, hidden);
            writeHead(dir, "linear-l" + exitLayer, "linear", exitLayer, lin, linShapes);

            Map<String, float[]> tr = new LinkedHashMap<>();
            Map<String, long[]> trShapes = new LinkedHashMap<>();
            layer(tr, trShapes, "layer.", random);
            norm(tr, trShapes, "norm.weight", random);
            writeHead(dir, "transformer-l" + exitLayer, "transformer", exitLayer, tr, trShapes);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public int[] prompt(long promptSeed, int length) {
        var r = new SplittableRandom(promptSeed);
        int[] p = new int[length];
        for (int i = 0; i < length; i++) p[i] = 2 + r.nextInt(vocab - 2);
        return p;
    }

    private void layer(Map<String, float[]> t, Map<String, long[]> s, String p, SplittableRandom r) {
        float in = (float) (1 / Math.sqrt(hidden));
        norm(t, s, p + "input_layernorm.weight", r);
        put(t, s, p + "self_attn.q_proj.weight", r, 2 * in, heads * headDim, hidden);
        put(t, s, p + "self_attn.k_proj.weight", r, 2 * in, kvHeads * headDim, hidden);
        put(t, s, p + "self_attn.v_proj.weight", r, in, kvHeads * headDim, hidden);
        put(t, s, p + "self_attn.o_proj.weight", r, (float) (1 / Math.sqrt(heads * headDim)), hidden, heads * headDim);
        norm(t, s, p + "post_attention_layernorm.weight", r);
        put(t, s, p + "mlp.gate_proj.weight", r, in, ffn, hidden);
        put(t, s, p + "mlp.up_proj.weight", r, in, ffn, hidden);
        put(t, s, p + "mlp.down_proj.weight", r, (float) (1 / Math.sqrt(ffn)), hidden, ffn);
    }

    private static void put(Map<String, float[]> t, Map<String, long[]> s, String name, SplittableRandom r, float scale, int rows, int cols) {
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * scale);
        t.put(name, v);
        s.put(name, new long[] {rows, cols});
    }

    private void norm(Map<String, float[]> t, Map<String, long[]> s, String name, SplittableRandom r) {
        float[] v = new float[hidden];
        for (int i = 0; i < hidden; i++) v[i] = (float) (1 + 0.1 * r.nextGaussian());
        t.put(name, v);
        s.put(name, new long[] {hidden});
    }

    private void writeHead(Path dir, String name, String kind, int exitLayer, Map<String, float[]> t, Map<String, long[]> s) throws IOException {
        Files.write(dir.resolve("exit_heads").resolve(name + ".safetensors"), encode(t, s));
        Files.writeString(dir.resolve("exit_heads").resolve(name + ".json"),
                "{\"format_version\": 1, \"name\": \"%s\", \"kind\": \"%s\", \"exit_layer\": %d}".formatted(name, kind, exitLayer));
    }

    /** A safetensors file with every tensor in this checkpoint's dtype. */
    private byte[] encode(Map<String, float[]> tensors, Map<String, long[]> shapes) {
        return SafetensorsFile.encode(tensors, shapes, dtype);
    }
}
