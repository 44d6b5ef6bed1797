package io.ppsd.runtime.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Load-time errors name the file and the field; small hand-written files cover the options. */
class TokenizerFormatTest {
    /** A minimal byte-level tokenizer: "ab" merges, byte alphabet subset. */
    private static final String TINY = """
            {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġab": 4},
                       "merges": ["a b", "Ġ ab"]},
             "added_tokens": [{"id": 5, "content": "<eos>", "special": true}],
             "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
             "decoder": {"type": "ByteLevel"}}
            """;

    private static TokenizerFormatException failure(String json) {
        return assertThrows(TokenizerFormatException.class, () -> Tokenizer.fromJson(json, "models/x/tokenizer.json"));
    }

    @Test
    void tinyByteLevelTokenizerWorks() {
        Tokenizer t = Tokenizer.fromJson(TINY, "tiny");
        assertArrayEquals(new int[] {2, 4, 5}, t.encode("ab ab<eos>", true));
        assertEquals("ab ab", t.decode(new int[] {2, 4, 5}, true));
        assertEquals(5, t.eosId());
        assertEquals(-1, t.bosId());
        assertEquals(6, t.vocabSize());
    }

    @Test
    void truncatedJson() {
        TokenizerFormatException e = failure(TINY.substring(0, TINY.length() / 2));
        assertTrue(e.getMessage().startsWith("models/x/tokenizer.json: not valid JSON"), e.getMessage());
        assertEquals("models/x/tokenizer.json", e.source());
    }

    @Test
    void unsupportedModelType() {
        TokenizerFormatException e = failure("""
                {"model": {"type": "WordPiece", "vocab": {"a": 0}}}""");
        assertEquals("models/x/tokenizer.json: model.type: unsupported value 'WordPiece' (supported: BPE)", e.getMessage());
        assertTrue(failure("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}").getMessage().contains("'Unigram'"));
    }

    @Test
    void missingVocab() {
        TokenizerFormatException e = failure("""
                {"model": {"type": "BPE", "merges": []}}""");
        assertEquals("models/x/tokenizer.json: model.vocab: missing required field", e.getMessage());
    }

    @Test
    void missingModelAndNonObjectRoot() {
        assertTrue(failure("{}").getMessage().contains("model: missing required field"));
        assertTrue(failure("[1, 2]").getMessage().contains("expected a JSON object"));
    }

    @Test
    void unsupportedPipelineComponentsAreNamed() {
        String base = TINY.replace("\"decoder\": {\"type\": \"ByteLevel\"}", "\"decoder\": {\"type\": \"WordPiece\"}");
        assertEquals("models/x/tokenizer.json: decoder.type: unsupported value 'WordPiece' "
                + "(supported: Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace)", failure(base).getMessage());
        String pre = TINY.replace("{\"type\": \"ByteLevel\", \"add_prefix_space\"",
                "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"BertPreTokenizer\"}]}, \"x\": {\"add_prefix_space\"");
        assertTrue(failure(pre).getMessage().contains("pre_tokenizer.pretokenizers[0].type: unsupported value 'BertPreTokenizer'"));
        String norm = TINY.replace("\"decoder\"", "\"normalizer\": {\"type\": \"BertNormalizer\"}, \"decoder\"");
        assertTrue(failure(norm).getMessage().contains("normalizer.type: unsupported value 'BertNormalizer'"));
    }

    @Test
    void badMergesAreReportedWithTheirIndex() {
        String unknownToken = TINY.replace("\"Ġ ab\"", "\"Ġ zz\"");
        assertEquals("models/x/tokenizer.json: model.merges[1]: token 'zz' is not in model.vocab", failure(unknownToken).getMessage());
        String noSpace = TINY.replace("\"a b\"", "\"ab\"");
        assertTrue(failure(noSpace).getMessage().contains("model.merges[0]: expected \"left right\""));
    }

    @Test
    void loadNamesTheFilePath(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"zero\"}, \"merges\": []}}");
        TokenizerFormatException e = assertThrows(TokenizerFormatException.class, () -> Tokenizer.load(file));
        assertEquals(file + ": model.vocab[\"a\"]: expected a non-negative integer id, got \"zero\"", e.getMessage());
    }
}
