package io.ppsd.runtime.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The architecture of a LLaMA-family model, read from a Hugging Face {@code config.json}:
 * {@code model_type} "llama", "mistral", "qwen2" (Qwen2 / Qwen2.5: biases on the q, k and v
 * projections) or "qwen3" (an RMSNorm over each head of q and k before RoPE).
 *
 * <p>Reading is strict: a value the engine would silently compute wrong (attention bias, an
 * activation other than SiLU, a sliding window shorter than the context, an unknown RoPE scaling)
 * and any key this class does not know are errors that name the file and the key. Keys that are
 * known not to change the forward pass (training-only settings, bookkeeping) are accepted.
 */
public record ModelConfig(
        String modelType,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int vocabSize,
        int maxPositions,
        float rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling,
        boolean tieWordEmbeddings,
        int bosTokenId,
        int[] eosTokenIds,
        boolean qkvBias,
        boolean qkNorm) {

    public ModelConfig {
        eosTokenIds = eosTokenIds == null ? new int[0] : eosTokenIds.clone();
    }

    /** The first end-of-sequence id, or −1 without one. */
    public int eosTokenId() {
        return eosTokenIds.length == 0 ? -1 : eosTokenIds[0];
    }

    /** Every end-of-sequence id ({@code eos_token_id} may be a list: a chat model ends turns with one of several). */
    @Override
    public int[] eosTokenIds() {
        return eosTokenIds.clone();
    }

    /** Keys that do not affect inference, or that are checked below; anything else is rejected. */
    private static final Set<String> KNOWN_KEYS = Set.of(
            "architectures", "model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
            "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size",
            "max_position_embeddings", "rms_norm_eps", "rope_theta", "rope_scaling",
            "tie_word_embeddings", "bos_token_id", "eos_token_id", "pad_token_id", "torch_dtype", "dtype",
            "hidden_act", "attention_bias", "mlp_bias", "attention_dropout", "initializer_range",
            "pretraining_tp", "use_cache", "transformers_version", "sliding_window", "_name_or_path",
            "output_attentions", "output_hidden_states", "return_dict",
            // Qwen2 / Qwen3 keys, checked below.
            "use_sliding_window", "max_window_layers", "layer_types");

    /** The architectures this engine computes. */
    private static final Set<String> SUPPORTED = Set.of("llama", "mistral", "qwen2", "qwen3");

    /** Families people often try, and what of theirs this engine lacks (so the error says what is missing). */
    private static final java.util.Map<String, String> MISSING = java.util.Map.of(
            "mixtral", "the mixture-of-experts MLP (router and experts)",
            "qwen2_moe", "the mixture-of-experts MLP (router, experts and shared expert)",
            "qwen3_moe", "the mixture-of-experts MLP (router and experts)",
            "gemma", "the GeLU-tanh MLP, the (1 + w) RMSNorm and the scaled embedding",
            "gemma2", "logit soft-capping, alternating sliding-window layers and post-norms",
            "gemma3", "alternating sliding-window layers, post-norms and q/k norms of its own kind",
            "phi3", "fused qkv and gate/up projections and partial rotary embedding",
            "phi", "LayerNorm with biases, GeLU and partial rotary embedding",
            "gpt2", "learned position embeddings, LayerNorm and fused attention projections",
            "falcon", "parallel attention/MLP blocks, multi-query layout and LayerNorm");

    public int kvDim() {
        return numKvHeads * headDim;
    }

    public int qDim() {
        return numHeads * headDim;
    }

    public static ModelConfig read(Path file) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readString(file));
        } catch (IOException e) {
            throw new ModelFormatException(file, "cannot read or parse JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(file, "expected a JSON object");
        }
        return parse(root, file);
    }

    static ModelConfig parse(JsonNode root, Path file) {
        var r = new Reader(root, file);
        // The architecture first: an unsupported model_type explains unknown keys better than the keys do.
        String modelType = r.string("model_type");
        if (!SUPPORTED.contains(modelType)) {
            String missing = MISSING.get(modelType);
            throw new ModelFormatException(file, "model_type '" + modelType + "' is not supported (supported: llama, mistral, qwen2, qwen3)"
                    + (missing != null ? "; this engine lacks " + missing : ""));
        }
        List<String> unknown = new ArrayList<>();
        root.fieldNames().forEachRemaining(k -> {
            if (!KNOWN_KEYS.contains(k)) unknown.add(k);
        });
        if (!unknown.isEmpty()) {
            throw new ModelFormatException(file, "unknown keys " + unknown
                    + " (the engine refuses settings it does not understand rather than ignore them)");
        }
        String act = r.optString("hidden_act", "silu");
        if (!act.equals("silu")) {
            throw new ModelFormatException(file, "hidden_act '" + act + "' is not supported (silu)");
        }
        // LLaMA's and Qwen3's attention_bias also puts a bias on o_proj, which is not implemented.
        if (r.optBool("attention_bias", false)) throw new ModelFormatException(file, "attention_bias=true is not supported (" + modelType + ")");
        boolean qkvBias = modelType.equals("qwen2");
        boolean qkNorm = modelType.equals("qwen3");
        if (root.hasNonNull("layer_types")) {
            for (JsonNode t : root.get("layer_types")) {
                if (!t.asText().equals("full_attention")) {
                    throw new ModelFormatException(file, "layer_types '" + t.asText() + "' is not supported (full_attention only)");
                }
            }
        }
        if (r.optBool("mlp_bias", false)) throw new ModelFormatException(file, "mlp_bias=true is not supported");
        if (r.optInt("pretraining_tp", 1) != 1) throw new ModelFormatException(file, "pretraining_tp other than 1 is not supported");

        int hidden = r.positive("hidden_size");
        int heads = r.positive("num_attention_heads");
        int kvHeads = root.has("num_key_value_heads") && !root.get("num_key_value_heads").isNull()
                ? r.positive("num_key_value_heads") : heads;
        if (heads % kvHeads != 0) {
            throw new ModelFormatException(file, "num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        int headDim;
        if (root.has("head_dim") && !root.get("head_dim").isNull()) {
            headDim = r.positive("head_dim");
        } else {
            if (hidden % heads != 0) throw new ModelFormatException(file, "hidden_size is not a multiple of num_attention_heads and head_dim is not given");
            headDim = hidden / heads;
        }
        if (headDim % 2 != 0) throw new ModelFormatException(file, "head_dim " + headDim + " must be even for RoPE");
        int maxPos = r.positive("max_position_embeddings");
        // Qwen configs carry a window even when use_sliding_window is off; it only counts when on.
        boolean windowOn = !root.hasNonNull("use_sliding_window") || r.optBool("use_sliding_window", false);
        if (windowOn && root.has("sliding_window") && !root.get("sliding_window").isNull()) {
            int window = r.positive("sliding_window");
            if (window < maxPos) {
                throw new ModelFormatException(file, "sliding_window " + window + " < max_position_embeddings " + maxPos + " is not supported");
            }
        }
        RopeScaling scaling = null;
        JsonNode rs = root.get("rope_scaling");
        if (rs != null && !rs.isNull()) {
            String type = rs.has("rope_type") ? rs.get("rope_type").asText() : rs.path("type").asText("");
            if (!type.equals("llama3")) {
                throw new ModelFormatException(file, "rope_scaling type '" + type + "' is not supported (llama3 or null)");
            }
            var s = new Reader(rs, file);
            scaling = new RopeScaling(s.positiveDouble("factor"), s.positiveDouble("low_freq_factor"),
                    s.positiveDouble("high_freq_factor"), s.positive("original_max_position_embeddings"));
        }
        int vocab = r.positive("vocab_size");
        int[] eos = r.tokenIds("eos_token_id");
        for (int id : eos) {
            if (id >= vocab) throw new ModelFormatException(file, "'eos_token_id' " + id + " is outside the vocabulary [0, " + vocab + ")");
        }
        int bos = r.optTokenId("bos_token_id");
        if (bos >= vocab) throw new ModelFormatException(file, "'bos_token_id' " + bos + " is outside the vocabulary [0, " + vocab + ")");
        return new ModelConfig(modelType, hidden, r.positive("intermediate_size"), r.positive("num_hidden_layers"),
                heads, kvHeads, headDim, vocab, maxPos,
                (float) r.optDouble("rms_norm_eps", 1e-6), r.optDouble("rope_theta", 10000.0), scaling,
                r.optBool("tie_word_embeddings", false), bos, eos, qkvBias, qkNorm);
    }

    /** Typed access to a JSON object with errors that name the file and key. */
    private record Reader(JsonNode node, Path file) {
        String string(String key) {
            JsonNode v = node.get(key);
            if (v == null || !v.isTextual()) throw new ModelFormatException(file, "missing or non-string '" + key + "'");
            return v.asText();
        }

        String optString(String key, String dflt) {
            JsonNode v = node.get(key);
            return v == null || v.isNull() ? dflt : v.asText();
        }

        int positive(String key) {
            JsonNode v = node.get(key);
            if (v == null || !v.canConvertToInt() || !v.isIntegralNumber() || v.asInt() <= 0) {
                throw new ModelFormatException(file, "'" + key + "' must be a positive integer, got " + v);
            }
            return v.asInt();
        }

        int optInt(String key, int dflt) {
            JsonNode v = node.get(key);
            if (v == null || v.isNull()) return dflt;
            if (!v.isIntegralNumber()) throw new ModelFormatException(file, "'" + key + "' must be an integer, got " + v);
            return v.asInt();
        }

        double positiveDouble(String key) {
            JsonNode v = node.get(key);
            if (v == null || !v.isNumber() || !(v.asDouble() > 0)) {
                throw new ModelFormatException(file, "'" + key + "' must be a positive number, got " + v);
            }
            return v.asDouble();
        }

        double optDouble(String key, double dflt) {
            JsonNode v = node.get(key);
            if (v == null || v.isNull()) return dflt;
            return positiveDouble(key);
        }

        boolean optBool(String key, boolean dflt) {
            JsonNode v = node.get(key);
            if (v == null || v.isNull()) return dflt;
            if (!v.isBoolean()) throw new ModelFormatException(file, "'" + key + "' must be true or false, got " + v);
            return v.asBoolean();
        }

        /** A token id, or the first of a list of ids (LLaMA-3 configs list several EOS ids); -1 when absent. */
        /** An id or a list of ids (absent or null: none). */
        int[] tokenIds(String key) {
            JsonNode v = node.get(key);
            if (v == null || v.isNull()) return new int[0];
            List<JsonNode> items = new java.util.ArrayList<>();
            if (v.isArray()) v.forEach(items::add);
            else items.add(v);
            int[] ids = new int[items.size()];
            for (int i = 0; i < ids.length; i++) {
                JsonNode x = items.get(i);
                if (!x.isIntegralNumber() || x.asInt() < 0) throw new ModelFormatException(file, "'" + key + "' must be a token id or a list of them, got " + v);
                ids[i] = x.asInt();
            }
            return ids;
        }

        int optTokenId(String key) {
            JsonNode v = node.get(key);
            if (v == null || v.isNull()) return -1;
            if (v.isArray() && !v.isEmpty()) v = v.get(0);
            if (!v.isIntegralNumber() || v.asInt() < 0) throw new ModelFormatException(file, "'" + key + "' must be a token id, got " + v);
            return v.asInt();
        }
    }
}
