package io.ppsd.runtime.cpu;

import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.model.Tensor;
import java.lang.foreign.Arena;
import java.util.function.Function;

/** The weights of one decoder layer, ready for the CPU kernels. */
public record LayerWeights(
        float[] attnNorm, Matrix wq, Matrix wk, Matrix wv, Matrix wo,
        float[] ffnNorm, Matrix gate, Matrix up, Matrix down) {

    /** Layer {@code i} of a Hugging Face LLaMA model. */
    public static LayerWeights of(ModelFiles files, int i, Arena arena) {
        return named(name -> files.tensor("model.layers." + i + "." + name), arena);
    }

    /** A layer whose tensors are found by their name below a layer prefix (also used by exit heads). */
    public static LayerWeights named(Function<String, Tensor> tensor, Arena arena) {
        return new LayerWeights(
                Matrix.vector(tensor.apply("input_layernorm.weight")),
                Matrix.of(tensor.apply("self_attn.q_proj.weight"), arena),
                Matrix.of(tensor.apply("self_attn.k_proj.weight"), arena),
                Matrix.of(tensor.apply("self_attn.v_proj.weight"), arena),
                Matrix.of(tensor.apply("self_attn.o_proj.weight"), arena),
                Matrix.vector(tensor.apply("post_attention_layernorm.weight")),
                Matrix.of(tensor.apply("mlp.gate_proj.weight"), arena),
                Matrix.of(tensor.apply("mlp.up_proj.weight"), arena),
                Matrix.of(tensor.apply("mlp.down_proj.weight"), arena));
    }

    /** Asks the OS to page the layer in now, so that loading shows progress and decoding does not stall. */
    void prefetch() {
        for (Matrix m : new Matrix[] {wq, wk, wv, wo, gate, up, down}) {
            if (m.data().isMapped()) m.data().load();
        }
    }
}
