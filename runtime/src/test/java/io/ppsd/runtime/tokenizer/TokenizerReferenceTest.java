package io.ppsd.runtime.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Compares our encoder and decoder with the Rust HF tokenizers library on the real LLaMA-3
 * (byte-level) and LLaMA-2-family (SentencePiece-style, byte fallback) files, plus variants of them
 * that exercise the other supported layouts (template post-processor, Metaspace, pair merges,
 * plain ByteLevel pre-tokenizer).
 */
class TokenizerReferenceTest {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    @ParameterizedTest
    @ValueSource(strings = {"llama3", "llama2"})
    void idsMatchHuggingFace(String name) {
        Tokenizer ours = ReferenceTokenizers.ours(name);
        HuggingFaceTokenizer hf = ReferenceTokenizers.hf(name);
        int compared = 0;
        for (String text : SampleTexts.all()) {
            for (boolean special : new boolean[] {false, true}) {
                assertArrayEquals(ReferenceTokenizers.hfEncode(hf, text, special), ours.encode(text, special),
                        () -> name + " addSpecialTokens=" + special + " text: " + escape(text));
                compared++;
            }
        }
        assertEquals(2 * SampleTexts.all().size(), compared);
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama3", "llama2"})
    void decodeMatchesHuggingFace(String name) {
        Tokenizer ours = ReferenceTokenizers.ours(name);
        HuggingFaceTokenizer hf = ReferenceTokenizers.hf(name);
        for (String text : SampleTexts.all()) {
            int[] ids = ours.encode(text, true);
            for (boolean skip : new boolean[] {false, true}) {
                assertEquals(ReferenceTokenizers.hfDecode(hf, ids, skip), ours.decode(ids, skip),
                        () -> name + " skipSpecialTokens=" + skip + " text: " + escape(text));
            }
        }
    }

    /** Decoding a stretch of arbitrary ids (broken UTF-8, specials, byte tokens) like HF does. */
    @ParameterizedTest
    @ValueSource(strings = {"llama3", "llama2"})
    void decodeOfArbitraryIdsMatchesHuggingFace(String name) {
        Tokenizer ours = ReferenceTokenizers.ours(name);
        HuggingFaceTokenizer hf = ReferenceTokenizers.hf(name);
        java.util.SplittableRandom random = new java.util.SplittableRandom(7);
        for (int round = 0; round < 200; round++) {
            int[] ids = new int[1 + random.nextInt(12)];
            for (int i = 0; i < ids.length; i++) {
                // Bias towards low ids: that is where byte tokens and specials live in both files.
                ids[i] = random.nextBoolean() ? random.nextInt(300) : random.nextInt(ours.vocabSize());
            }
            for (boolean skip : new boolean[] {false, true}) {
                assertEquals(ReferenceTokenizers.hfDecode(hf, ids, skip), ours.decode(ids, skip),
                        () -> name + " ids " + java.util.Arrays.toString(ids));
            }
        }
    }

    /**
     * Many short random strings mixing scripts, controls, private-use and emoji code points with
     * fragments that stress the rules (contractions, added tokens, byte-token look-alikes,
     * whitespace runs). Code points come from blocks that were complete by Unicode 14: the JDK's
     * newer Unicode tables classify later additions as letters where HF's regex engine does not
     * (see the Tokenizer javadoc), which is a known, accepted difference.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama3", "llama2"})
    void randomShortStringsMatchHuggingFace(String name) {
        int[][] ranges = {
            {0x20, 0x7E}, {0x20, 0x7E}, {0x20, 0x7E}, {0x00, 0x1F}, {0x80, 0x24F}, {0x300, 0x36F}, {0x370, 0x4FF},
            {0x590, 0x6FF}, {0x900, 0x97F}, {0x2000, 0x206F}, {0x3000, 0x30FF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3},
            {0xE000, 0xF8FF}, {0xFF00, 0xFFEF}, {0x1F300, 0x1F64F}, {0x1F900, 0x1F9FF}, {0x20000, 0x2A6DF},
            {0xE0100, 0xE01EF},
        };
        String[] fragments = {"'s", "'S", "'ll", "'LL", "'re", "'ſ", " ", "  ", "\n", "\r\n", "\t", "<s>", "</s>",
            "<|eot_id|>", "<|begin_of_text|>", "▁", "Ġ", "<0x41>", "1234", "\u00a0", "\u3000", "\u200d", "\ufeff"};
        Tokenizer ours = ReferenceTokenizers.ours(name);
        HuggingFaceTokenizer hf = ReferenceTokenizers.hf(name);
        java.util.SplittableRandom random = new java.util.SplittableRandom(11);
        for (int round = 0; round < 1500; round++) {
            StringBuilder sb = new StringBuilder();
            int parts = 1 + random.nextInt(16);
            for (int i = 0; i < parts; i++) {
                if (random.nextInt(4) == 0) {
                    sb.append(fragments[random.nextInt(fragments.length)]);
                } else {
                    int[] range = ranges[random.nextInt(ranges.length)];
                    sb.appendCodePoint(range[0] + random.nextInt(range[1] - range[0] + 1));
                }
            }
            String text = sb.toString();
            boolean special = random.nextBoolean();
            int[] expected = ReferenceTokenizers.hfEncode(hf, text, special);
            assertArrayEquals(expected, ours.encode(text, special), () -> name + " text: " + escape(text));
            assertEquals(ReferenceTokenizers.hfDecode(hf, expected, false), ours.decode(expected, false),
                    () -> name + " decode of: " + escape(text));
        }
    }

    @Test
    void llama3TemplatePostProcessorMatchesHuggingFace() {
        // Meta's own LLaMA-3 file: Sequence[ByteLevel, TemplateProcessing(<|begin_of_text|> $A)].
        String json = variant("llama3", root -> {
            ObjectNode template = MAPPER.createObjectNode().put("type", "TemplateProcessing");
            ArrayNode single = template.putArray("single");
            single.addObject().putObject("SpecialToken").put("id", "<|begin_of_text|>").put("type_id", 0);
            single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
            ArrayNode pair = template.putArray("pair");
            pair.addAll(single.deepCopy());
            pair.addObject().putObject("SpecialToken").put("id", "<|begin_of_text|>").put("type_id", 1);
            pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
            ObjectNode bos = template.putObject("special_tokens").putObject("<|begin_of_text|>");
            bos.put("id", "<|begin_of_text|>");
            bos.putArray("ids").add(128000);
            bos.putArray("tokens").add("<|begin_of_text|>");
            ObjectNode sequence = MAPPER.createObjectNode().put("type", "Sequence");
            sequence.putArray("processors").add(root.get("post_processor")).add(template);
            root.set("post_processor", sequence);
        });
        Tokenizer ours = compareVariant(json, "llama3-template");
        assertEquals(128000, ours.encode("hi", true)[0]);
        assertEquals(128000, ours.bosId());
    }

    @Test
    void llama3WithPlainByteLevelPreTokenizerMatchesHuggingFace() {
        // GPT-2 layout: ByteLevel does the regex split itself; merges applied without ignore_merges.
        String json = variant("llama3", root -> {
            root.set("pre_tokenizer", MAPPER.createObjectNode().put("type", "ByteLevel")
                    .put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", true));
            ((ObjectNode) root.get("model")).put("ignore_merges", false);
        });
        compareVariant(json, "llama3-gpt2-bytelevel");
    }

    @Test
    void llama2WithMetaspacePreTokenizerMatchesHuggingFace() {
        // Older LLaMA-2 / TinyLlama conversions: Metaspace pre-tokenizer and decoder, no normalizer.
        for (String scheme : new String[] {"first", "always"}) {
            String json = variant("llama2", root -> {
                root.putNull("normalizer");
                root.set("pre_tokenizer", MAPPER.createObjectNode().put("type", "Metaspace")
                        .put("replacement", "\u2581").put("prepend_scheme", scheme).put("split", false));
                root.set("decoder", MAPPER.createObjectNode().put("type", "Metaspace")
                        .put("replacement", "\u2581").put("prepend_scheme", scheme).put("split", false));
            });
            compareVariant(json, "llama2-metaspace-" + scheme);
        }
    }

    @Test
    void mergesAsPairsGiveTheSameIds() {
        String json = variant("llama2", root -> {
            ArrayNode pairs = MAPPER.createArrayNode();
            for (var merge : root.get("model").get("merges")) {
                String[] halves = merge.asText().split(" ", -1);
                pairs.addArray().add(halves[0]).add(halves[1]);
            }
            ((ObjectNode) root.get("model")).set("merges", pairs);
        });
        Tokenizer pairs = compareVariant(json, "llama2-pair-merges");
        Tokenizer strings = ReferenceTokenizers.ours("llama2");
        for (String text : SampleTexts.FIXED) {
            assertArrayEquals(strings.encode(text, true), pairs.encode(text, true));
        }
    }

    private static String variant(String name, Consumer<ObjectNode> edit) {
        try {
            ObjectNode root = (ObjectNode) MAPPER.readTree(ReferenceTokenizers.json(name));
            edit.accept(root);
            return MAPPER.writeValueAsString(root);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Checks ids and decoded text of every sample against HF for a modified tokenizer.json. */
    private static Tokenizer compareVariant(String json, String label) {
        Tokenizer ours = Tokenizer.fromJson(json, label);
        try (HuggingFaceTokenizer hf = ReferenceTokenizers.hfFromJson(json)) {
            List<String> texts = SampleTexts.all();
            for (String text : texts) {
                for (boolean special : new boolean[] {false, true}) {
                    int[] ids = ReferenceTokenizers.hfEncode(hf, text, special);
                    assertArrayEquals(ids, ours.encode(text, special),
                            () -> label + " addSpecialTokens=" + special + " text: " + escape(text));
                    assertEquals(ReferenceTokenizers.hfDecode(hf, ids, false), ours.decode(ids, false),
                            () -> label + " decode of: " + escape(text));
                }
            }
        }
        return ours;
    }

    static String escape(String text) {
        StringBuilder sb = new StringBuilder("\"");
        text.codePoints().limit(300).forEach(cp -> {
            if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || cp == 0x2028 || cp == 0x2029) {
                sb.append(String.format("\\u%04x", cp));
            } else {
                sb.appendCodePoint(cp);
            }
        });
        return sb.append(text.codePointCount(0, text.length()) > 300 ? "...\"" : "\"").toString();
    }
}
