package io.ppsd.runtime.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Hugging Face model directory: {@code config.json} plus {@code model.safetensors} or the shards
 * named by {@code model.safetensors.index.json}. All shards are memory-mapped (mapping costs no
 * memory until pages are touched), and every tensor is checked against the LLaMA schema of the
 * config up front: a missing tensor, an unexpected one, a wrong shape or dtype is an error naming
 * the file. A stage then reads only the tensors of its own layers.
 */
public final class ModelFiles implements AutoCloseable {
    private static final Pattern LAYER_TENSOR = Pattern.compile("model\\.layers\\.(\\d+)\\.(.+)");

    private final Path dir;
    private final ModelConfig config;
    private final Arena arena;
    private final Map<String, Tensor> tensors;
    private final Map<String, Path> fileOf;

    private ModelFiles(Path dir, ModelConfig config, Arena arena, Map<String, Tensor> tensors, Map<String, Path> fileOf) {
        this.dir = dir;
        this.config = config;
        this.arena = arena;
        this.tensors = tensors;
        this.fileOf = fileOf;
    }

    public static ModelFiles open(Path dir) {
        if (!Files.isDirectory(dir)) throw new ModelFormatException(dir, "not a model directory");
        Path configFile = dir.resolve("config.json");
        if (!Files.isRegularFile(configFile)) throw new ModelFormatException(configFile, "missing (every model directory needs config.json)");
        ModelConfig config = ModelConfig.read(configFile);
        Arena arena = Arena.ofShared();
        try {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            Map<String, Path> fileOf = new HashMap<>();
            for (Path shard : shardFiles(dir)) {
                SafetensorsFile f = SafetensorsFile.open(shard, arena);
                for (Tensor t : f.tensors().values()) {
                    if (tensors.put(t.name(), t) != null) {
                        throw new ModelFormatException(shard, "tensor '" + t.name() + "' also appears in " + fileOf.get(t.name()));
                    }
                    fileOf.put(t.name(), shard);
                }
            }
            var files = new ModelFiles(dir, config, arena, tensors, fileOf);
            files.checkSchema();
            return files;
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static List<Path> shardFiles(Path dir) {
        Path single = dir.resolve("model.safetensors");
        Path index = dir.resolve("model.safetensors.index.json");
        if (Files.isRegularFile(index)) {
            JsonNode root;
            try {
                root = new ObjectMapper().readTree(Files.readString(index));
            } catch (IOException e) {
                throw new ModelFormatException(index, "cannot read or parse JSON: " + e.getMessage(), e);
            }
            JsonNode map = root == null ? null : root.get("weight_map");
            if (map == null || !map.isObject() || map.isEmpty()) throw new ModelFormatException(index, "no 'weight_map' object");
            var names = new TreeSet<String>();
            map.fields().forEachRemaining(e -> names.add(e.getValue().asText()));
            List<Path> shards = new ArrayList<>();
            for (String n : names) {
                Path p = dir.resolve(n).normalize();
                if (!p.startsWith(dir.normalize())) throw new ModelFormatException(index, "shard '" + n + "' lies outside the model directory");
                if (!Files.isRegularFile(p)) throw new ModelFormatException(index, "names shard '" + n + "' which does not exist");
                shards.add(p);
            }
            return shards;
        }
        if (Files.isRegularFile(single)) return List.of(single);
        throw new ModelFormatException(dir, "no model.safetensors or model.safetensors.index.json");
    }

    /** The shape every tensor of this architecture must have. */
    private Map<String, long[]> expectedShapes() {
        ModelConfig c = config;
        long d = c.hiddenSize(), v = c.vocabSize();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put("model.embed_tokens.weight", new long[] {v, d});
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "model.layers." + i + ".";
            LayerSchema.of(c).forEach((name, shape) -> shapes.put(p + name, shape));
        }
        shapes.put("model.norm.weight", new long[] {d});
        if (!c.tieWordEmbeddings()) shapes.put("lm_head.weight", new long[] {v, d});
        return shapes;
    }

    private void checkSchema() {
        Map<String, long[]> expected = expectedShapes();
        List<String> missing = new ArrayList<>();
        for (var e : expected.entrySet()) {
            Tensor t = tensors.get(e.getKey());
            if (t == null) {
                missing.add(e.getKey());
            } else if (!java.util.Arrays.equals(t.shape(), e.getValue())) {
                throw new ModelFormatException(fileOf.get(t.name()), "tensor '" + t.name() + "' has shape " + t.shapeString()
                        + " but config.json implies " + java.util.Arrays.toString(e.getValue()));
            }
        }
        if (!missing.isEmpty()) {
            throw new ModelFormatException(dir, missing.size() + " tensor(s) missing, e.g. " + missing.subList(0, Math.min(5, missing.size())));
        }
        for (String name : tensors.keySet()) {
            if (expected.containsKey(name) || isHarmlessExtra(name)) continue;
            Matcher m = LAYER_TENSOR.matcher(name);
            String hint = m.matches() && Integer.parseInt(m.group(1)) >= config.numLayers()
                    ? " (layer " + m.group(1) + " but config.json says num_hidden_layers=" + config.numLayers() + ")" : "";
            throw new ModelFormatException(fileOf.get(name), "unexpected tensor '" + name + "'" + hint);
        }
    }

    /** Tensors that some exporters write and that carry no information the engine needs. */
    private boolean isHarmlessExtra(String name) {
        return name.endsWith(".rotary_emb.inv_freq") || (config.tieWordEmbeddings() && name.equals("lm_head.weight"));
    }

    public Path dir() {
        return dir;
    }

    public ModelConfig config() {
        return config;
    }

    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new ModelFormatException(dir, "no tensor '" + name + "'");
        return t;
    }

    /** The tensors of the LM head: {@code lm_head.weight}, or the embeddings when they are tied. */
    public Tensor lmHead() {
        return config.tieWordEmbeddings() ? tensor("model.embed_tokens.weight") : tensor("lm_head.weight");
    }

    /** The file a tensor came from, for error messages. */
    public Path fileOf(String name) {
        return fileOf.getOrDefault(name, dir);
    }

    public Arena arena() {
        return arena;
    }

    @Override
    public void close() {
        arena.close();
    }
}
