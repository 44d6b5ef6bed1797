package io.ppsd.runtime.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The project's own model tokenizer ({@code models/ppsd-mini/tokenizer.json}, trained by
 * models/recipe/bpe.py) checked against HF tokenizers and, when present, against the ids the
 * Python trainer wrote to {@code models/ppsd-mini/golden/tokens.json}. Skipped when the model
 * directory is not in the checkout.
 */
class PpsdMiniTokenizerTest {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    /** models/ppsd-mini, found by walking up from the working directory (runtime/ under Maven). */
    private static Path modelDir() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve("models").resolve("ppsd-mini");
            if (Files.isRegularFile(candidate.resolve("tokenizer.json"))) {
                return candidate;
            }
        }
        return null;
    }

    private static Tokenizer load() throws IOException {
        Path dir = modelDir();
        assumeTrue(dir != null, "models/ppsd-mini/tokenizer.json not present");
        return Tokenizer.load(dir.resolve("tokenizer.json"));
    }

    @Test
    void matchesHuggingFaceOnSamplesAndPrompts() throws IOException {
        Tokenizer ours = load();
        assertEquals(4096, ours.vocabSize());
        assertEquals(0, ours.bosId());
        assertEquals(1, ours.eosId());
        List<String> texts = new ArrayList<>(SampleTexts.all());
        texts.addAll(prompts(modelDir()));
        try (HuggingFaceTokenizer hf = ReferenceTokenizers.hfFromJson(Files.readString(modelDir().resolve("tokenizer.json")))) {
            for (String text : texts) {
                for (boolean special : new boolean[] {false, true}) {
                    int[] ids = ReferenceTokenizers.hfEncode(hf, text, special);
                    assertArrayEquals(ids, ours.encode(text, special), () -> "ppsd-mini: " + TokenizerReferenceTest.escape(text));
                    assertEquals(ReferenceTokenizers.hfDecode(hf, ids, true), ours.decode(ids, true));
                }
                assertEquals(text, ours.decode(ours.encode(text, true), true));
            }
        }
    }

    @Test
    void matchesTrainerGoldenIds() throws IOException {
        Tokenizer ours = load();
        Path golden = modelDir().resolve("golden").resolve("tokens.json");
        assumeTrue(Files.isRegularFile(golden), "models/ppsd-mini/golden/tokens.json not present yet");
        List<JsonNode> cases = new ArrayList<>();
        collectCases(MAPPER.readTree(golden.toFile()), cases);
        assertFalse(cases.isEmpty(), golden + ": found no objects with a \"text\" string and an \"ids\" "
                + "(or \"tokens\"/\"token_ids\"/\"input_ids\") array; update this test to the file's format");
        for (JsonNode c : cases) {
            String text = c.get("text").asText();
            int[] expected = MAPPER.convertValue(idsOf(c), int[].class);
            // bpe.py's encode() adds <|bos|> by default; follow an explicit flag when there is one.
            boolean addBos = c.has("add_bos") ? c.get("add_bos").asBoolean()
                    : c.has("add_special_tokens") ? c.get("add_special_tokens").asBoolean()
                    : expected.length > 0 && expected[0] == ours.bosId() && !text.startsWith("<|bos|>");
            assertArrayEquals(expected, ours.encode(text, addBos), () -> golden + ": " + TokenizerReferenceTest.escape(text));
        }
    }

    private static JsonNode idsOf(JsonNode node) {
        return Stream.of("ids", "tokens", "token_ids", "input_ids")
                .map(node::get).filter(n -> n != null && n.isArray()).findFirst().orElse(null);
    }

    private static void collectCases(JsonNode node, List<JsonNode> out) {
        if (node.isObject() && node.has("text") && node.get("text").isTextual() && idsOf(node) != null) {
            out.add(node);
            return;
        }
        for (JsonNode child : node) {
            collectCases(child, out);
        }
    }

    private static List<String> prompts(Path dir) throws IOException {
        List<String> texts = new ArrayList<>();
        Path prompts = dir.resolve("prompts");
        if (!Files.isDirectory(prompts)) {
            return texts;
        }
        try (Stream<Path> files = Files.list(prompts)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".jsonl")).sorted().toList()) {
                for (String line : Files.readAllLines(file)) {
                    if (!line.isBlank()) {
                        texts.add(MAPPER.readTree(line).get("text").asText());
                    }
                }
            }
        }
        return texts;
    }
}
