package io.ppsd.benchmarks.pipespec;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ppsd.runtime.model.DType;
import io.ppsd.runtime.model.SafetensorsFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A separate model made of a model's first {@code layers} decoder layers with its own final norm
 * and LM head: the "middle" model of a three-level PipeSpec hierarchy built from the models at hand
 * (what the shipped norm head at that layer predicts, as a model of its own). Written next to the
 * benchmark's results, never into models/.
 */
final class ModelCut {
    private static final Pattern LAYER = Pattern.compile("model\\.layers\\.(\\d+)\\..*");

    private ModelCut() {}

    static Path write(Path model, int layers, Path dir) throws IOException {
        Files.createDirectories(dir);
        var mapper = new ObjectMapper();
        var config = (ObjectNode) mapper.readTree(model.resolve("config.json").toFile());
        config.put("num_hidden_layers", layers);
        mapper.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("config.json").toFile(), config);
        for (String f : new String[] {"tokenizer.json", "tokenizer_config.json", "generation_config.json"}) {
            if (Files.exists(model.resolve(f))) Files.copy(model.resolve(f), dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
        Map<String, float[]> kept = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        try (Arena arena = Arena.ofConfined()) {
            var file = SafetensorsFile.open(model.resolve("model.safetensors"), arena);
            for (var t : file.tensors().values()) {
                var m = LAYER.matcher(t.name());
                if (m.matches() && Integer.parseInt(m.group(1)) >= layers) continue;
                if (t.dtype() != DType.F32) throw new IOException("ModelCut copies F32 models only; " + t.name() + " is " + t.dtype());
                kept.put(t.name(), t.data().toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN)));
                shapes.put(t.name(), t.shape());
            }
        }
        Files.write(dir.resolve("model.safetensors"), SafetensorsFile.encode(kept, shapes));
        return dir;
    }
}
