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
        // An architecture this engine lacks is named as such, before its own keys are reported as unknown.
        assertFails(withConfig(sb -> {
            replace(sb, "\"model_type\": \"llama\"", "\"model_type\": \"qwen2_moe\"");
            replace(sb, "{", "{\"num_experts\": 8, ");
        }), "model_type 'qwen2_moe'", "mixture-of-experts");
        assertFails(withConfig(sb -> replace(sb, "\"eos_token_id\": 2", "\"eos_token_id\": [2, 999]")), "eos_token_id", "999", "outside the vocabulary");
        assertFails(withConfig(sb -> replace(sb, "\"bos_token_id\": 1", "\"bos_token_id\": 256")), "bos_token_id", "outside the vocabulary");
    }

    /** A context of 10⁸ or 2³¹−1 positions in config.json costs nothing until positions are used. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(ints = {100_000_000, Integer.MAX_VALUE})
    void aHugeDeclaredContextIsNotAllocated(int positions) throws IOException {
        Path dir = withConfig(sb -> replace(sb, "\"max_position_embeddings\": 128", "\"max_position_embeddings\": " + positions));
        int[] prompt = {5, 77, 200, 13};
        try (var files = ModelFiles.open(dir); var plain = ModelFiles.open(TINY);
             var huge = new io.ppsd.runtime.cpu.CpuStageExecutor(files, io.ppsd.runtime.stage.StageSpec.whole(3), 1, LoadProgress.NONE);
             var normal = new io.ppsd.runtime.cpu.CpuStageExecutor(plain, io.ppsd.runtime.stage.StageSpec.whole(3), 1, LoadProgress.NONE)) {
            assertTrue(files.config().maxPositions() == positions);
            var request = io.ppsd.runtime.decode.GenerationRequest.greedy(prompt, 20);
            int[] a = new io.ppsd.runtime.decode.AutoregressiveDecoder(huge).generate(request, io.ppsd.runtime.decode.TokenListener.NONE).generated();
            int[] b = new io.ppsd.runtime.decode.AutoregressiveDecoder(normal).generate(request, io.ppsd.runtime.decode.TokenListener.NONE).generated();
            org.junit.jupiter.api.Assertions.assertArrayEquals(b, a, "the same tokens as with the real context");
        }
    }

    /** NaN weights must fail the generation clearly instead of decoding token 0 with every draft "accepted". */
    @Test
    void nanWeightsFailTheGenerationClearly() throws IOException {
        Path dir = copy(TINY);
        java.util.Map<String, float[]> tensors = new java.util.LinkedHashMap<>();
        java.util.Map<String, long[]> shapes = new java.util.LinkedHashMap<>();
        try (Arena arena = Arena.ofConfined()) {
            for (var t : SafetensorsFile.open(TINY.resolve("model.safetensors"), arena).tensors().values()) {
                float[] v = new float[(int) t.elements()];
                java.lang.foreign.MemorySegment.copy(t.data(), java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0, v, 0, v.length);
                tensors.put(t.name(), v);
                shapes.put(t.name(), t.shape());
            }
        }
        tensors.get("model.layers.1.mlp.down_proj.weight")[7] = Float.NaN;
        Files.write(dir.resolve("model.safetensors"), SafetensorsFile.encode(tensors, shapes));
        try (var files = ModelFiles.open(dir);
             var whole = new io.ppsd.runtime.cpu.CpuStageExecutor(files, io.ppsd.runtime.stage.StageSpec.whole(3), 1, LoadProgress.NONE)) {
            var e = assertThrows(io.ppsd.runtime.decode.Sampler.NonFiniteLogitsException.class, () -> new io.ppsd.runtime.decode.AutoregressiveDecoder(whole)
                    .generate(io.ppsd.runtime.decode.GenerationRequest.greedy(new int[] {5, 6, 7}, 8), io.ppsd.runtime.decode.TokenListener.NONE));
            assertTrue(e.getMessage().contains("non-finite"), e.getMessage());
            var sampled = new io.ppsd.runtime.decode.GenerationRequest(new int[] {5, 6, 7}, 8, io.ppsd.runtime.decode.SamplingParams.temperature(0.8f, 3),
                    new int[0], java.util.List.of(), null);
            assertThrows(io.ppsd.runtime.decode.Sampler.NonFiniteLogitsException.class,
                    () -> new io.ppsd.runtime.decode.AutoregressiveDecoder(whole).generate(sampled, io.ppsd.runtime.decode.TokenListener.NONE));
        }
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
            // A json that declares tensors this model's head cannot have (another model's export, a hand edit).
            Files.writeString(dir.resolve("exit_heads/w.json"), "{\"format_version\": 1, \"kind\": \"linear\", \"exit_layer\": 1, "
                    + "\"tensors\": {\"norm.weight\": [64], \"proj.weight\": [999, 64]}}");
            var shape = assertThrows(ModelFormatException.class, () -> ExitHeadFile.read(dir, "w", 1, c, arena)).getMessage();
            assertTrue(shape.contains("w.json") && shape.contains("proj.weight") && shape.contains("[999,64]"), shape);
            Files.writeString(dir.resolve("exit_heads/v.json"), "{\"format_version\": 1, \"kind\": \"linear\", \"exit_layer\": 1, "
                    + "\"tensors\": {\"norm.weight\": [64], \"proj.weight\": [256, 64], \"bias\": [256]}}");
            var extra = assertThrows(ModelFormatException.class, () -> ExitHeadFile.read(dir, "v", 1, c, arena)).getMessage();
            assertTrue(extra.contains("'bias'"), extra);
        }
    }
}
