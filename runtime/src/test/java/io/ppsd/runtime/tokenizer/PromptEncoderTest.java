package io.ppsd.runtime.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFormatException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Stop ids from every place a model names them: config.json's eos (an id or a list) and generation_config.json's. */
class PromptEncoderTest {
    @TempDir
    Path tmp;

    private Path model(String eos, String generationConfig) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("m" + System.nanoTime()));
        String config = Files.readString(Path.of("../models/ppsd-mini/config.json"));
        config = config.replaceFirst("\"eos_token_id\":\\s*[0-9]+", "\"eos_token_id\": " + eos);
        Files.writeString(dir.resolve("config.json"), config);
        Files.copy(Path.of("../models/ppsd-mini/tokenizer.json"), dir.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
        if (generationConfig != null) Files.writeString(dir.resolve("generation_config.json"), generationConfig);
        return dir;
    }

    private static PromptEncoder encoder(Path dir) throws Exception {
        return PromptEncoder.of(Tokenizer.load(dir.resolve("tokenizer.json")), ModelConfig.read(dir.resolve("config.json")), dir);
    }

    @Test
    void everyEndOfSequenceIdStops() throws Exception {
        assertArrayEquals(new int[] {1}, encoder(model("1", null)).stopTokenIds());
        assertArrayEquals(new int[] {1, 7}, encoder(model("[1, 7]", null)).stopTokenIds(), "eos_token_id as a list");
        assertArrayEquals(new int[] {1, 7, 9}, encoder(model("[1, 7]", "{\"eos_token_id\": [7, 9], \"do_sample\": false}")).stopTokenIds(),
                "generation_config.json's ids too, once each");
        assertArrayEquals(new int[] {1, 3}, encoder(model("1", "{\"eos_token_id\": 3}")).stopTokenIds());
        var e = assertThrows(ModelFormatException.class, () -> encoder(model("1", "{\"eos_token_id\": 99999}")));
        assertTrue(e.getMessage().contains("generation_config.json") && e.getMessage().contains("eos_token_id"), e.getMessage());
    }
}
