package io.ppsd.runtime.heads;

import com.fasterxml.jackson.databind.JsonNode;
import io.ppsd.runtime.model.LayerSchema;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFormatException;
import io.ppsd.runtime.model.SafetensorsFile;
import io.ppsd.runtime.model.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An early-exit head stored beside a model: {@code exit_heads/<name>.json} (format_version 1,
 * kind, exit_layer) and, for the kinds with weights, {@code exit_heads/<name>.safetensors}:
 * <ul>
 *   <li>linear: {@code norm.weight} [hidden], {@code proj.weight} [vocab, hidden]</li>
 *   <li>transformer: {@code layer.*} (one decoder layer, Hugging Face names below the prefix) and
 *       {@code norm.weight}; the LM head is the model's.</li>
 * </ul>
 * The pseudo-name {@code "norm"} needs no file: the model's final norm at the stage's exit layer.
 *
 * <p>A head name with the suffix {@code +v<K>} ({@code transformer-l4+v1024}, {@code norm+v512})
 * is that head drafting over a reduced vocabulary: the K most frequent tokens of the model's
 * {@link DraftVocabulary} ({@code vocabulary} non-null); the head's projection keeps only their rows.
 */
public record ExitHeadFile(String name, ExitHeadKind kind, int exitLayer, Map<String, Tensor> tensors, DraftVocabulary vocabulary) {
    public static final String NORM = "norm";
    private static final java.util.regex.Pattern REDUCED = java.util.regex.Pattern.compile("(.+)\\+v([0-9]{1,9})");

    public ExitHeadFile(String name, ExitHeadKind kind, int exitLayer, Map<String, Tensor> tensors) {
        this(name, kind, exitLayer, tensors, null);
    }

    /** The head a name refers to without its reduced-vocabulary suffix ({@code transformer-l4+v1024} → {@code transformer-l4}). */
    public static String baseName(String head) {
        var m = REDUCED.matcher(head);
        return m.matches() ? m.group(1) : head;
    }

    /** The draft vocabulary size a name asks for, or 0 for the full vocabulary. */
    public static int reducedVocabulary(String head) {
        var m = REDUCED.matcher(head);
        return m.matches() ? Integer.parseInt(m.group(2)) : 0;
    }
    private static final Set<String> KNOWN_KEYS = Set.of("format_version", "name", "kind", "exit_layer", "tensors", "dtype", "trained", "description");

    /** The list of heads shipped with a model (names usable as {@link io.ppsd.runtime.stage.StageSpec#exitHead()}). */
    public static List<String> available(Path modelDir) {
        Path dir = modelDir.resolve("exit_heads");
        List<String> names = new ArrayList<>();
        if (Files.isDirectory(dir)) {
            try (var s = Files.list(dir)) {
                s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".json"))
                        .map(n -> n.substring(0, n.length() - 5)).sorted().forEach(names::add);
            } catch (IOException e) {
                throw new ModelFormatException(dir, "cannot list: " + e.getMessage(), e);
            }
        }
        return names;
    }

    /** The shipped transformer head at N/4 if there is one, else the norm head. */
    public static String defaultHead(Path modelDir, ModelConfig config) {
        String candidate = "transformer-l" + Math.max(1, config.numLayers() / 4);
        return Files.isRegularFile(modelDir.resolve("exit_heads").resolve(candidate + ".json")) ? candidate : NORM;
    }

    /**
     * The exit layer a head drafts at: from its file, or {@code requested} (default N/4) for the
     * norm head; a {@code requested} layer that contradicts the file is an error.
     */
    public static int resolveExitLayer(Path modelDir, ModelConfig config, String head, Integer requested) {
        int n = config.numLayers();
        if (!baseName(head).equals(head)) DraftVocabulary.read(modelDir, reducedVocabulary(head), config); // its errors now, not at load
        if (baseName(head).equals(NORM)) {
            int e = requested != null && requested > 0 ? requested : Math.max(1, n / 4);
            if (e >= n) throw new IllegalArgumentException("exit layer must be in [1, " + (n - 1) + "], got " + e);
            return e;
        }
        try (Arena arena = Arena.ofConfined()) {
            int e = read(modelDir, baseName(head), 0, config, arena).exitLayer();
            if (requested != null && requested > 0 && requested != e) {
                throw new IllegalArgumentException("head '" + head + "' exits at layer " + e + ", not " + requested);
            }
            return e;
        }
    }

    /** Reads head {@code name} of the model in {@code modelDir}; {@code exitLayer} is used for {@code "norm"}. */
    public static ExitHeadFile read(Path modelDir, String name, int exitLayer, ModelConfig config, Arena arena) {
        int reduced = reducedVocabulary(name);
        if (!baseName(name).equals(name)) {
            var full = read(modelDir, baseName(name), exitLayer, config, arena);
            return new ExitHeadFile(name, full.kind(), full.exitLayer(), full.tensors(), DraftVocabulary.read(modelDir, reduced, config));
        }
        if (name.equals(NORM)) return new ExitHeadFile(NORM, ExitHeadKind.NORM, exitLayer, Map.of());
        if (!name.matches("[A-Za-z0-9._-]+")) {
            throw new IllegalArgumentException("invalid exit head name '" + name + "' (a name in exit_heads/ or 'norm', optionally +v<K> for a reduced draft vocabulary)");
        }
        Path json = modelDir.resolve("exit_heads").resolve(name + ".json");
        if (!Files.isRegularFile(json)) {
            throw new ModelFormatException(json, "no such exit head (available: " + available(modelDir) + ", or 'norm')");
        }
        JsonNode root = VersionedJson.read(json, KNOWN_KEYS);
        ExitHeadKind kind;
        try {
            kind = ExitHeadKind.valueOf(root.path("kind").asText("").toUpperCase());
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(json, "kind must be norm, linear or transformer, got " + root.get("kind"));
        }
        JsonNode el = root.get("exit_layer");
        if (el == null || !el.isIntegralNumber() || el.asInt() < 1 || el.asInt() >= config.numLayers()) {
            throw new ModelFormatException(json, "exit_layer must be an integer in [1, " + (config.numLayers() - 1) + "], got " + el);
        }
        Map<String, long[]> expected = expectedShapes(kind, config);
        checkDeclaredTensors(json, root.get("tensors"), expected);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        if (!expected.isEmpty()) {
            Path st = modelDir.resolve("exit_heads").resolve(name + ".safetensors");
            if (!Files.isRegularFile(st)) throw new ModelFormatException(st, "missing (a " + kind.name().toLowerCase() + " head has weights)");
            var file = SafetensorsFile.open(st, arena);
            for (var e : expected.entrySet()) {
                Tensor t = file.tensors().get(e.getKey());
                if (t == null) throw new ModelFormatException(st, "tensor '" + e.getKey() + "' missing");
                if (!Arrays.equals(t.shape(), e.getValue())) {
                    throw new ModelFormatException(st, "tensor '" + e.getKey() + "' has shape " + t.shapeString() + ", expected " + Arrays.toString(e.getValue()));
                }
                tensors.put(e.getKey(), t);
            }
            for (String n : file.tensors().keySet()) {
                if (!expected.containsKey(n)) throw new ModelFormatException(st, "unexpected tensor '" + n + "' for a " + kind.name().toLowerCase() + " head");
            }
        }
        return new ExitHeadFile(name, kind, el.asInt(), tensors);
    }

    /**
     * The json's own list of tensors ({@code "tensors": {name: shape}}), when it has one, must be
     * what the kind needs for this model: a head exported for another model, or a hand-edited
     * file, is refused here with the first difference rather than loaded.
     */
    private static void checkDeclaredTensors(Path json, JsonNode declared, Map<String, long[]> expected) {
        if (declared == null || declared.isNull()) return;
        if (!declared.isObject()) throw new ModelFormatException(json, "'tensors' must map tensor names to shapes");
        List<String> names = new ArrayList<>();
        declared.fieldNames().forEachRemaining(names::add);
        for (String n : names) {
            long[] shape = expected.get(n);
            if (shape == null) throw new ModelFormatException(json, "'tensors' names '" + n + "', which this kind of head does not have (expected " + expected.keySet() + ")");
            JsonNode given = declared.get(n);
            long[] g = new long[given.size()];
            for (int i = 0; i < g.length; i++) g[i] = given.get(i).asLong(-1);
            if (!given.isArray() || !Arrays.equals(g, shape)) {
                throw new ModelFormatException(json, "'tensors." + n + "' declares shape " + given + " but this model needs " + Arrays.toString(shape));
            }
        }
        for (String n : expected.keySet()) {
            if (!declared.has(n)) throw new ModelFormatException(json, "'tensors' lacks '" + n + "'");
        }
    }

    private static Map<String, long[]> expectedShapes(ExitHeadKind kind, ModelConfig c) {
        long d = c.hiddenSize();
        Map<String, long[]> s = new LinkedHashMap<>();
        switch (kind) {
            case NORM -> {}
            case LINEAR -> {
                s.put("norm.weight", new long[] {d});
                s.put("proj.weight", new long[] {c.vocabSize(), d});
            }
            case TRANSFORMER -> {
                LayerSchema.of(c).forEach((n, shape) -> s.put("layer." + n, shape));
                s.put("norm.weight", new long[] {d});
            }
        }
        return s;
    }

    public Tensor tensor(String name) {
        return tensors.get(name);
    }
}
