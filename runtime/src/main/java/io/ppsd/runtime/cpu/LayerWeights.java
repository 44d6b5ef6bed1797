package io.ppsd.runtime.cpu;

import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.model.Tensor;
import java.lang.foreign.Arena;
import java.util.function.Function;

/**
 * The weights of one decoder layer, ready for the CPU kernels. {@code qBias}, {@code kBias},
 * {@code vBias} (Qwen2) and {@code qNorm}, {@code kNorm} (Qwen3, one weight per head dimension)
 * are null where the architecture has none.
 */
public record LayerWeights(
        float[] attnNorm, Matrix wq, Matrix wk, Matrix wv, Matrix wo,
        float[] ffnNorm, Matrix gate, Matrix up, Matrix down,
        float[] qBias, float[] kBias, float[] vBias, float[] qNorm, float[] kNorm) {

    /** A LLaMA layer (no biases, no q/k norms). */
    public LayerWeights(float[] attnNorm, Matrix wq, Matrix wk, Matrix wv, Matrix wo, float[] ffnNorm, Matrix gate, Matrix up, Matrix down) {
        this(attnNorm, wq, wk, wv, wo, ffnNorm, gate, up, down, null, null, null, null, null);
    }

    /** Layer {@code i} of a Hugging Face model. */
    public static LayerWeights of(ModelFiles files, int i, Arena arena) {
        return named(name -> files.tensor("model.layers." + i + "." + name), files.config(), arena);
    }

    /** A layer whose tensors are found by their name below a layer prefix (also used by exit heads). */
    public static LayerWeights named(Function<String, Tensor> tensor, ModelConfig config, Arena arena) {
        boolean bias = config.qkvBias(), norms = config.qkNorm();
        return new LayerWeights(
                Matrix.vector(tensor.apply("input_layernorm.weight")),
                Matrix.of(tensor.apply("self_attn.q_proj.weight"), arena),
                Matrix.of(tensor.apply("self_attn.k_proj.weight"), arena),
                Matrix.of(tensor.apply("self_attn.v_proj.weight"), arena),
                Matrix.of(tensor.apply("self_attn.o_proj.weight"), arena),
                Matrix.vector(tensor.apply("post_attention_layernorm.weight")),
                Matrix.of(tensor.apply("mlp.gate_proj.weight"), arena),
                Matrix.of(tensor.apply("mlp.up_proj.weight"), arena),
                Matrix.of(tensor.apply("mlp.down_proj.weight"), arena),
                bias ? Matrix.vector(tensor.apply("self_attn.q_proj.bias")) : null,
                bias ? Matrix.vector(tensor.apply("self_attn.k_proj.bias")) : null,
                bias ? Matrix.vector(tensor.apply("self_attn.v_proj.bias")) : null,
                norms ? Matrix.vector(tensor.apply("self_attn.q_norm.weight")) : null,
                norms ? Matrix.vector(tensor.apply("self_attn.k_norm.weight")) : null);
    }

    /** Asks the OS to page the layer in now, so that loading shows progress and decoding does not stall. */
    void prefetch() {
        for (Matrix m : new Matrix[] {wq, wk, wv, wo, gate, up, down}) {
            if (m.data().isMapped()) m.data().load();
        }
    }
}
