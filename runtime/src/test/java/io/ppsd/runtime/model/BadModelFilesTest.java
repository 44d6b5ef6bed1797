package io.ppsd.runtime.model;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.heads.ExitHeadFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every kind of broken model directory fails with one message naming the file and the problem. */
class BadModelFilesTest {
    private static final Path TINY = Path.of("src/test/resources/reference/tiny-f32");
    private static final Path SHARDED = Path.of("src/test/resources/reference/tiny-sharded");

    @TempDir
    Path tmp;

    private Path copy(Path from) throws IOException {
        Path dir = tmp.resolve("m" + System.nanoTime());
        Files.createDirectories(dir);
        try (var files = Files.list(from)) {
            for (Path f : files.toList()) Files.copy(f, dir.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
        }
        return dir;
    }

    private void assertFails(Path dir, String... parts) {
        var e = assertThrows(ModelFormatException.class, () -> ModelFiles.open(dir).close());
        for (String p : parts) assertTrue(e.getMessage().contains(p), "'" + e.getMessage() + "' should mention '" + p + "'");
    }

    private Path withConfig(Consumer<StringBuilder> edit) throws IOException {
        Path dir = copy(TINY);
        var sb = new StringBuilder(Files.readString(dir.resolve("config.json")));
        edit.accept(sb);
        Files.writeString(dir.resolve("config.json"), sb);
        return dir;
    }

    private static void replace(StringBuilder sb, String from, String to) {
        int i = sb.indexOf(from);
        if (i < 0) throw new IllegalStateException("config has no '" + from + "'");
        sb.replace(i, i + from.length(), to);
    }

    @Test
    void truncatedAndCorruptFiles() throws IOException {
        Path dir = copy(TINY);
        Path st = dir.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(st);
        Files.write(st, java.util.Arrays.copyOf(bytes, bytes.length - 100));
        assertFails(dir, "model.safetensors", "outside", "truncated");
        Files.write(st, java.util.Arrays.copyOf(bytes, 5));
        assertFails(dir, "model.safetensors", "truncated");
        byte[] badHeader = bytes.clone();
        badHeader[8] = '#'; // the header's opening brace
        Files.write(st, badHeader);
        assertFails(dir, "model.safetensors", "not valid JSON");
        Files.delete(st);
        assertFails(dir, "no model.safetensors");
    }

    @Test
    void wrongTensorsAndShapes() throws IOException {
        Path dir = copy(TINY);
        String header = new String(Files.readAllBytes(dir.resolve("model.safetensors")), java.nio.charset.StandardCharsets.ISO_8859_1);
        // A renamed tensor is both missing and unexpected; the same length keeps the header valid.
        Files.write(dir.resolve("model.safetensors"), header.replace("model.norm.weight", "model.norm.wEight").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        assertFails(dir, "missing", "model.norm.weight");
        assertFails(withConfig(sb -> replace(sb, "\"intermediate_size\": 96", "\"intermediate_size\": 97")), "has shape", "mlp");
        assertFails(withConfig(sb -> replace(sb, "\"num_hidden_layers\": 3", "\"num_hidden_layers\": 2")), "unexpected tensor", "model.layers.2", "num_hidden_layers=2");
    }

    @Test
    void unsupportedConfigValues() throws IOException {
        assertFails(withConfig(sb -> replace(sb, "{", "{\"use_magic\": true, ")), "config.json", "unknown keys [use_magic]");
        assertFails(withConfig(sb -> replace(sb, "\"model_type\": \"llama\"", "\"model_type\": \"gpt2\"")), "model_type 'gpt2'");
        assertFails(withConfig(sb -> replace(sb, "\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"")), "hidden_act 'gelu'");
        assertFails(withConfig(sb -> replace(sb, "\"attention_bias\": false", "\"attention_bias\": true")), "attention_bias");
        assertFails(withConfig(sb -> replace(sb, "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3")), "not a multiple");
        assertFails(withConfig(sb -> replace(sb, "\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 2.0}")), "rope_scaling type 'yarn'");
        assertFails(withConfig(sb -> replace(sb, "\"vocab_size\": 256", "\"vocab_size\": -1")), "vocab_size");
        Path dir = copy(TINY);
        Files.writeString(dir.resolve("config.json"), "{ not json");
        assertFails(dir, "config.json", "parse");
    }

    @Test
    void shardIndexProblems() throws IOException {
        Path dir = copy(SHARDED);
        try (var shards = Files.list(dir)) {
            Path shard = shards.filter(p -> p.getFileName().toString().startsWith("model-")).findFirst().orElseThrow();
            Files.delete(shard);
            assertFails(dir, "model.safetensors.index.json", "does not exist");
        }
    }

    @Test
    void badExitHeads() throws IOException {
        Path dir = copy(TINY);
        Files.createDirectories(dir.resolve("exit_heads"));
        Files.writeString(dir.resolve("exit_heads/x.json"), "{\"format_version\": 1, \"kind\": \"quantum\", \"exit_layer\": 1}");
        Files.writeString(dir.resolve("exit_heads/y.json"), "{\"format_version\": 1, \"kind\": \"linear\", \"exit_layer\": 1}");
        Files.writeString(dir.resolve("exit_heads/z.json"), "{\"format_version\": 1, \"kind\": \"norm\", \"exit_layer\": 9}");
        try (var files = ModelFiles.open(dir); Arena arena = Arena.ofConfined()) {
            var c = files.config();
            assertTrue(assertThrows(ModelFormatException.class, () -> ExitHeadFile.read(dir, "x", 1, c, arena)).getMessage().contains("kind must be"));
            assertTrue(assertThrows(ModelFormatException.class, () -> ExitHeadFile.read(dir, "y", 1, c, arena)).getMessage().contains("y.safetensors"));
            assertTrue(assertThrows(ModelFormatException.class, () -> ExitHeadFile.read(dir, "z", 1, c, arena)).getMessage().contains("exit_layer"));
            assertTrue(assertThrows(ModelFormatException.class, () -> ExitHeadFile.read(dir, "nope", 1, c, arena)).getMessage().contains("available"));
        }
    }
}
