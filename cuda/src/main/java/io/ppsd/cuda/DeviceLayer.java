package io.ppsd.cuda;

import io.ppsd.runtime.model.Tensor;
import java.util.function.Function;

/** The weights of one decoder layer on the device (Hugging Face tensor names below a layer prefix). */
record DeviceLayer(
        DeviceBuffer attnNorm, DeviceMatrix wq, DeviceMatrix wk, DeviceMatrix wv, DeviceMatrix wo,
        DeviceBuffer ffnNorm, DeviceMatrix gate, DeviceMatrix up, DeviceMatrix down) {

    static DeviceLayer upload(Function<String, Tensor> tensor, DeviceWeights weights) {
        return new DeviceLayer(
                weights.vector(tensor.apply("input_layernorm.weight")),
                weights.matrix(tensor.apply("self_attn.q_proj.weight")),
                weights.matrix(tensor.apply("self_attn.k_proj.weight")),
                weights.matrix(tensor.apply("self_attn.v_proj.weight")),
                weights.matrix(tensor.apply("self_attn.o_proj.weight")),
                weights.vector(tensor.apply("post_attention_layernorm.weight")),
                weights.matrix(tensor.apply("mlp.gate_proj.weight")),
                weights.matrix(tensor.apply("mlp.up_proj.weight")),
                weights.matrix(tensor.apply("mlp.down_proj.weight")));
    }
}
