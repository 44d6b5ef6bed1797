package io.ppsd.benchmarks.model;

import io.ppsd.runtime.model.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A LLaMA model with random weights in the Hugging Face layout, of any size (tensors are streamed
 * to disk), plus early-exit heads. Values are uniform with the variance of a scaled Gaussian and
 * seeded by tensor name, so two tensors can share values (a head that "copies" the LM head).
 *
 * <p>{@code residualScale} scales every layer's output projections after the first: small values
 * keep the hidden state close to the first layer's, so early exits agree with the full model often
 * (a stand-in for trained heads' acceptance); 1 gives an ordinary random model with α near 0.
 * Heads imitate trained ones: a linear head is the final norm + LM head with noise, a transformer
 * head a near-identity layer before them.
 */
public record RandomLlama(String name, int layers, int hidden, int heads, int kvHeads, int ffn, int vocab, int maxPositions,
                          boolean tiedEmbeddings, DType dtype, float residualScale, List<String> exitHeads, long seed) {

    /** Same shapes as the shipped ppsd-mini (16 layers, hidden 128, vocab 4096, GQA), with its head names. */
    public static RandomLlama ppsdMiniShapes() {
        return new RandomLlama("ppsd-mini-random", 16, 128, 4, 2, 384, 4096, 512, true, DType.F32, 0.3f,
                List.of("linear-l4", "transformer-l2", "transformer-l4", "transformer-l8"), 42);
    }

    /** A tiny model for tests (8 layers, hidden 64). */
    public static RandomLlama tiny() {
        return new RandomLlama("tiny-random", 8, 64, 4, 2, 128, 256, 256, false, DType.F32, 0.3f,
                List.of("linear-l2", "transformer-l2", "transformer-l4"), 7);
    }

    /** ≈ 20 M parameters: 8 layers, hidden 384, vocab 8192. */
    public static RandomLlama random20m() {
        return new RandomLlama("random-20m", 8, 384, 6, 2, 1024, 8192, 1024, false, DType.F32, 1f, List.of(), 20);
    }

    /** ≈ 240 M parameters: 16 layers, hidden 1024, vocab 32000 (≈ 0.95 GB in F32). */
    public static RandomLlama random240m() {
        return new RandomLlama("random-240m", 16, 1024, 16, 4, 2816, 32000, 1024, false, DType.F32, 1f, List.of(), 240);
    }

    public int headDim() {
        return hidden / heads;
    }

    public long parameters() {
        long layer = (long) hidden * (heads * headDim()) * 2 + (long) hidden * kvHeads * headDim() * 2 + 3L * hidden * ffn + 2L * hidden;
        return (long) layers * layer + (tiedEmbeddings ? 1L : 2L) * vocab * hidden + hidden;
    }

    /** Writes config.json, model.safetensors and the heads into {@code dir}; returns {@code dir}. */
    public Path write(Path dir) throws IOException {
        Files.createDirectories(dir.resolve("exit_heads"));
        Files.writeString(dir.resolve("config.json"), """
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": %d,
                 "intermediate_size": %d, "num_hidden_layers": %d, "num_attention_heads": %d,
                 "num_key_value_heads": %d, "head_dim": %d, "vocab_size": %d, "max_position_embeddings": %d,
                 "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": %s,
                 "bos_token_id": 0, "eos_token_id": 1, "hidden_act": "silu", "torch_dtype": "%s"}
                """.formatted(hidden, ffn, layers, heads, kvHeads, headDim(), vocab, maxPositions, tiedEmbeddings,
                dtype == DType.BF16 ? "bfloat16" : "float32"));
        List<SafetensorsWriter.Entry> model = new ArrayList<>();
        model.add(gauss("model.embed_tokens.weight", "embed", 1f, vocab, hidden));
        for (int i = 0; i < layers; i++) layer(model, "model.layers." + i + ".", "layer" + i, i == 0 ? 1f : residualScale);
        model.add(ones("model.norm.weight", "norm", hidden));
        if (!tiedEmbeddings) model.add(gauss("lm_head.weight", "lm_head", 1f, vocab, hidden));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), model);

        String lmHead = tiedEmbeddings ? "embed" : "lm_head";
        for (String head : exitHeads) {
            String kind = head.substring(0, head.indexOf("-l"));
            int exit = Integer.parseInt(head.substring(head.indexOf("-l") + 2));
            List<SafetensorsWriter.Entry> t = new ArrayList<>();
            switch (kind) {
                case "linear" -> {
                    t.add(ones("norm.weight", "norm", hidden));
                    t.add(new SafetensorsWriter.Entry("proj.weight", dtype, new long[] {vocab, hidden},
                            noisy(uniform(lmHead, 1f), uniform("linear-noise-" + exit, 0.3f))));
                }
                case "transformer" -> {
                    layer(t, "layer.", "head-layer-" + exit, 0.1f);
                    t.add(ones("norm.weight", "norm", hidden));
                }
                default -> throw new IllegalArgumentException("unknown head kind in '" + head + "'");
            }
            SafetensorsWriter.write(dir.resolve("exit_heads").resolve(head + ".safetensors"), t);
            Files.writeString(dir.resolve("exit_heads").resolve(head + ".json"),
                    "{\"format_version\": 1, \"name\": \"%s\", \"kind\": \"%s\", \"exit_layer\": %d}\n".formatted(head, kind, exit));
        }
        return dir;
    }

    private void layer(List<SafetensorsWriter.Entry> t, String p, String seedName, float outScale) {
        int q = heads * headDim(), kv = kvHeads * headDim();
        float in = (float) (1 / Math.sqrt(hidden));
        t.add(ones(p + "input_layernorm.weight", seedName + ".ln1", hidden));
        t.add(gauss(p + "self_attn.q_proj.weight", seedName + ".q", 2 * in, q, hidden));
        t.add(gauss(p + "self_attn.k_proj.weight", seedName + ".k", 2 * in, kv, hidden));
        t.add(gauss(p + "self_attn.v_proj.weight", seedName + ".v", in, kv, hidden));
        t.add(gauss(p + "self_attn.o_proj.weight", seedName + ".o", (float) (outScale / Math.sqrt(q)), hidden, q));
        t.add(ones(p + "post_attention_layernorm.weight", seedName + ".ln2", hidden));
        t.add(gauss(p + "mlp.gate_proj.weight", seedName + ".gate", in, ffn, hidden));
        t.add(gauss(p + "mlp.up_proj.weight", seedName + ".up", in, ffn, hidden));
        t.add(gauss(p + "mlp.down_proj.weight", seedName + ".down", (float) (outScale / Math.sqrt(ffn)), hidden, ffn));
    }

    private SafetensorsWriter.Entry gauss(String name, String seedName, float std, long rows, long cols) {
        return new SafetensorsWriter.Entry(name, dtype, new long[] {rows, cols}, uniform(seedName, std));
    }

    private SafetensorsWriter.Entry ones(String name, String seedName, long n) {
        var noise = uniform(seedName, 0.1f);
        return new SafetensorsWriter.Entry(name, dtype, new long[] {n}, (chunk, k) -> {
            noise.fill(chunk, k);
            for (int i = 0; i < k; i++) chunk[i] += 1f;
        });
    }

    /** Uniform values with standard deviation {@code std}, seeded by {@code seedName}. */
    private SafetensorsWriter.ValueSource uniform(String seedName, float std) {
        var r = new SplittableRandom(seed * 1_000_003L + seedName.hashCode());
        float a = (float) (std * Math.sqrt(3));
        return (chunk, n) -> {
            for (int i = 0; i < n; i++) chunk[i] = (r.nextFloat() * 2 - 1) * a;
        };
    }

    private static SafetensorsWriter.ValueSource noisy(SafetensorsWriter.ValueSource base, SafetensorsWriter.ValueSource noise) {
        float[] extra = new float[1 << 16];
        return (chunk, n) -> {
            base.fill(chunk, n);
            noise.fill(extra, n);
            for (int i = 0; i < n; i++) chunk[i] += extra[i];
        };
    }
}
