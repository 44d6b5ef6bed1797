package io.ppsd.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ppsd.actors.cli.PpsdCli;
import io.ppsd.runtime.testing.RandomModel;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command line end to end: every strategy and transport of {@code generate} gives the same
 * greedy tokens in its JSON output; {@code tokenize} prints ids; bad options fail with a message.
 */
class CliTest {
    @TempDir
    Path tmp;

    private record Run(int exit, String out, String err) {}

    private static Run cli(String... args) {
        var out = new StringWriter();
        var err = new StringWriter();
        int exit = PpsdCli.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Run(exit, out.toString(), err.toString());
    }

    @Test
    void generateAgreesAcrossStrategiesAndTransports() throws Exception {
        var model = new RandomModel(8, 32, 4, 2, 48, 4096, 128, 4);
        Path dir = TestModels.write(model, tmp.resolve("m"), 2, 0.5f);
        String m = dir.toString();
        var mapper = new ObjectMapper();
        JsonNode ar = mapper.readTree(cli("generate", "--model", m, "--prompt", "The jury said", "--max-tokens", "12", "--strategy", "ar", "--json").out());
        assertTrue(ar.has("prompt_token_ids") && ar.has("generated_token_ids") && ar.has("text") && ar.has("timings"), ar.toString());
        assertEquals(0, ar.get("prompt_token_ids").get(0).asInt(), "BOS first");
        String[][] variants = {
                {"--strategy", "eesd", "--head", "transformer-l2", "--draft-len", "3"},
                {"--strategy", "eesd", "--head", "norm", "--exit-layer", "3", "--adaptive"},
                {"--strategy", "ppsd", "--head", "linear-l2", "--transport", "threads"},
                {"--strategy", "ppsd", "--head", "norm", "--exit-layer", "2", "--stage-sizes", "2,6", "--transport", "threads"},
                {"--strategy", "ppsd", "--head", "transformer-l2", "--transport", "actors"}};
        for (String[] v : variants) {
            String[] args = new String[9 + v.length];
            System.arraycopy(new String[] {"generate", "--model", m, "--prompt", "The jury said", "--max-tokens", "12", "--json", "--compare-ar"}, 0, args, 0, 9);
            System.arraycopy(v, 0, args, 9, v.length);
            Run r = cli(args);
            assertEquals(0, r.exit(), String.join(" ", v) + ": " + r.err());
            JsonNode j = mapper.readTree(r.out().lines().filter(l -> l.startsWith("{")).findFirst().orElseThrow());
            assertEquals(ar.get("generated_token_ids"), j.get("generated_token_ids"), String.join(" ", v));
            assertTrue(j.get("same_tokens_as_ar").asBoolean(), String.join(" ", v));
        }
    }

    @Test
    void tokenizeAndErrors() {
        Run t = cli("tokenize", "--tokenizer", "../models/ppsd-mini/tokenizer.json", "--text", "public static void", "--json");
        assertEquals(0, t.exit(), t.err());
        assertTrue(t.out().contains("\"ids\":[0,"), t.out());
        Run bad = cli("generate", "--model", tmp.resolve("none").toString(), "--prompt", "x");
        assertEquals(1, bad.exit());
        assertTrue(bad.err().contains("error:"), bad.err());
        Run badStrategy = cli("generate", "--model", "../models/ppsd-mini", "--prompt", "x", "--strategy", "fast");
        assertTrue(badStrategy.err().contains("unknown strategy 'fast'"), badStrategy.err());
    }
}
