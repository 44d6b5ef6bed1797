package io.ppsd.cuda;

import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.Tensor;
import java.util.function.Function;

/**
 * The weights of one decoder layer on the device (Hugging Face tensor names below a layer prefix);
 * q/k/v biases (Qwen2) and per-head q/k norms (Qwen3) are null where the architecture has none.
 */
record DeviceLayer(
        DeviceBuffer attnNorm, DeviceMatrix wq, DeviceMatrix wk, DeviceMatrix wv, DeviceMatrix wo,
        DeviceBuffer ffnNorm, DeviceMatrix gate, DeviceMatrix up, DeviceMatrix down,
        DeviceBuffer qBias, DeviceBuffer kBias, DeviceBuffer vBias, DeviceBuffer qNorm, DeviceBuffer kNorm) {

    static DeviceLayer upload(Function<String, Tensor> tensor, ModelConfig config, DeviceWeights weights) {
        boolean bias = config.qkvBias(), norms = config.qkNorm();
        return new DeviceLayer(
                weights.vector(tensor.apply("input_layernorm.weight")),
                weights.matrix(tensor.apply("self_attn.q_proj.weight")),
                weights.matrix(tensor.apply("self_attn.k_proj.weight")),
                weights.matrix(tensor.apply("self_attn.v_proj.weight")),
                weights.matrix(tensor.apply("self_attn.o_proj.weight")),
                weights.vector(tensor.apply("post_attention_layernorm.weight")),
                weights.matrix(tensor.apply("mlp.gate_proj.weight")),
                weights.matrix(tensor.apply("mlp.up_proj.weight")),
                weights.matrix(tensor.apply("mlp.down_proj.weight")),
                bias ? weights.vector(tensor.apply("self_attn.q_proj.bias")) : null,
                bias ? weights.vector(tensor.apply("self_attn.k_proj.bias")) : null,
                bias ? weights.vector(tensor.apply("self_attn.v_proj.bias")) : null,
                norms ? weights.vector(tensor.apply("self_attn.q_norm.weight")) : null,
                norms ? weights.vector(tensor.apply("self_attn.k_norm.weight")) : null);
    }
}
