package io.ppsd.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ppsd.runtime.model.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What a model's {@code generation_config.json} says about ending output (the rest of it is sampling defaults, not read). */
final class GenerationConfig {
    private GenerationConfig() {}

    /** The ids of its {@code eos_token_id} (an int or a list); none when the file or the key is absent. */
    static int[] eosTokenIds(Path modelDir, int vocabSize) {
        Path file = modelDir.resolve("generation_config.json");
        if (!Files.isRegularFile(file)) return new int[0];
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readString(file));
        } catch (IOException e) {
            throw new ModelFormatException(file, "not valid JSON: " + e.getMessage(), e);
        }
        JsonNode v = root == null ? null : root.get("eos_token_id");
        if (v == null || v.isNull()) return new int[0];
        JsonNode[] items = v.isArray() ? toArray(v) : new JsonNode[] {v};
        int[] ids = new int[items.length];
        for (int i = 0; i < ids.length; i++) {
            if (!items[i].isIntegralNumber() || items[i].asInt() < 0 || items[i].asInt() >= vocabSize) {
                throw new ModelFormatException(file, "'eos_token_id' must be token ids in [0, " + vocabSize + "), got " + v);
            }
            ids[i] = items[i].asInt();
        }
        return ids;
    }

    private static JsonNode[] toArray(JsonNode array) {
        JsonNode[] out = new JsonNode[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i);
        return out;
    }
}
