package io.ppsd.runtime.model;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The tensors of one decoder layer that a config implies, by their Hugging Face names below the
 * layer's prefix, with their shapes: the LLaMA layer, plus q/k/v biases (Qwen2) or per-head q/k
 * norms (Qwen3). The model files and the transformer exit heads are both checked against it.
 */
public final class LayerSchema {
    private LayerSchema() {}

    public static Map<String, long[]> of(ModelConfig c) {
        long d = c.hiddenSize(), ff = c.intermediateSize();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put("input_layernorm.weight", new long[] {d});
        shapes.put("self_attn.q_proj.weight", new long[] {c.qDim(), d});
        shapes.put("self_attn.k_proj.weight", new long[] {c.kvDim(), d});
        shapes.put("self_attn.v_proj.weight", new long[] {c.kvDim(), d});
        if (c.qkvBias()) {
            shapes.put("self_attn.q_proj.bias", new long[] {c.qDim()});
            shapes.put("self_attn.k_proj.bias", new long[] {c.kvDim()});
            shapes.put("self_attn.v_proj.bias", new long[] {c.kvDim()});
        }
        if (c.qkNorm()) {
            shapes.put("self_attn.q_norm.weight", new long[] {c.headDim()});
            shapes.put("self_attn.k_norm.weight", new long[] {c.headDim()});
        }
        shapes.put("self_attn.o_proj.weight", new long[] {d, c.qDim()});
        shapes.put("post_attention_layernorm.weight", new long[] {d});
        shapes.put("mlp.gate_proj.weight", new long[] {ff, d});
        shapes.put("mlp.up_proj.weight", new long[] {ff, d});
        shapes.put("mlp.down_proj.weight", new long[] {d, ff});
        return shapes;
    }
}
