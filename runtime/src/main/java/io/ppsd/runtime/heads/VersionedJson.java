package io.ppsd.runtime.heads;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ppsd.runtime.model.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/** The JSON files beside a model's weights (exit heads, token frequencies): an object, known keys only, format_version 1. */
final class VersionedJson {
    private VersionedJson() {}

    static JsonNode read(Path file, Set<String> knownKeys) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readString(file));
        } catch (IOException e) {
            throw new ModelFormatException(file, "cannot read or parse JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new ModelFormatException(file, "expected a JSON object");
        List<String> unknown = new ArrayList<>();
        root.fieldNames().forEachRemaining(k -> { if (!knownKeys.contains(k)) unknown.add(k); });
        if (!unknown.isEmpty()) throw new ModelFormatException(file, "unknown keys " + unknown);
        if (root.path("format_version").asInt(-1) != 1) throw new ModelFormatException(file, "format_version must be 1");
        return root;
    }
}
