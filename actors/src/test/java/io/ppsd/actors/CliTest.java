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
import java.util.Set;
import java.util.TreeSet;
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

    /**
     * The README's main command (PPSD over actors, every option at its default) and every other
     * strategy and transport print one JSON shape: the same keys, the same prompt ids, AR's
     * greedy tokens.
     */
    @Test
    void generateAgreesAcrossStrategiesAndTransports() throws Exception {
        var model = new RandomModel(8, 32, 4, 2, 48, 4096, 128, 4);
        Path dir = TestModels.write(model, tmp.resolve("m"), 2, 0.5f);
        String m = dir.toString();
        var mapper = new ObjectMapper();
        Run arRun = cli("generate", "--model", m, "--prompt", "The jury said", "--max-tokens", "12", "--strategy", "ar", "--json");
        assertEquals(0, arRun.exit(), arRun.err());
        JsonNode ar = mapper.readTree(arRun.out());
        Set<String> keys = new TreeSet<>();
        ar.fieldNames().forEachRemaining(keys::add);
        assertTrue(keys.containsAll(Set.of("prompt_token_ids", "generated_token_ids", "text", "stop_reason", "strategy", "decoder",
                "speculation", "timings")), keys.toString());
        assertEquals(0, ar.get("prompt_token_ids").get(0).asInt(), "BOS first");
        assertEquals(12, ar.get("generated_token_ids").size(), ar.toString());
        assertEquals(12, ar.get("timings").get("generated_tokens").asInt(), ar.toString());
        String[][] variants = {
                {},  // the README's main command: ppsd over actors
                {"--strategy", "eesd", "--head", "transformer-l2", "--draft-len", "3"},
                {"--strategy", "eesd", "--head", "norm", "--exit-layer", "3", "--adaptive"},
                {"--strategy", "ppsd", "--head", "linear-l2", "--transport", "threads"},
                {"--strategy", "ppsd", "--head", "norm", "--exit-layer", "2", "--stage-sizes", "2,6", "--transport", "threads"},
                {"--strategy", "ppsd", "--head", "transformer-l2", "--transport", "actors"},
                {"--strategy", "ppsd", "--head", "norm", "--exit-layer", "4", "--stage-sizes", "4,2,2"},
                {"--strategy", "ar", "--transport", "threads"}};
        for (String[] v : variants) {
            String name = v.length == 0 ? "default" : String.join(" ", v);
            String[] args = new String[8 + v.length];
            System.arraycopy(new String[] {"generate", "--model", m, "--prompt", "The jury said", "--max-tokens", "12", "--json"}, 0, args, 0, 8);
            System.arraycopy(v, 0, args, 8, v.length);
            Run r = cli(args);
            assertEquals(0, r.exit(), name + ": " + r.err());
            JsonNode j = mapper.readTree(r.out());
            Set<String> own = new TreeSet<>();
            j.fieldNames().forEachRemaining(own::add);
            assertEquals(keys, own, name);
            assertEquals(ar.get("prompt_token_ids"), j.get("prompt_token_ids"), name);
            assertEquals(ar.get("generated_token_ids"), j.get("generated_token_ids"), name);
            assertEquals(ar.get("text"), j.get("text"), name);
            assertEquals(fieldNames(ar.get("timings")), fieldNames(j.get("timings")), name);
            assertEquals(fieldNames(ar.get("speculation")), fieldNames(j.get("speculation")), name);
            assertEquals(12, j.get("timings").get("generated_tokens").asInt(), name);
            if (!j.get("strategy").asText().equals("ar")) assertTrue(j.get("speculation").get("drafts_verified").asInt() > 0, name + ": " + j);
        }
        Run compared = cli("generate", "--model", m, "--prompt", "The jury said", "--max-tokens", "12", "--json", "--compare-ar");
        JsonNode c = mapper.readTree(compared.out());
        assertTrue(c.get("same_tokens_as_ar").asBoolean(), c.toString());
        assertTrue(c.has("speedup_over_ar") && c.has("ar_tokens_per_s"), c.toString());
        Run text = cli("generate", "--model", m, "--prompt", "The jury said", "--max-tokens", "12");
        assertEquals(0, text.exit(), text.err());
        assertTrue(text.out().startsWith("The jury said"), text.out());
        assertTrue(text.err().contains("over actors") && text.err().contains("acceptance α"), text.err());
    }

    private static Set<String> fieldNames(JsonNode n) {
        Set<String> names = new TreeSet<>();
        n.fieldNames().forEachRemaining(names::add);
        return names;
    }

    @Test
    void tokenizeAndErrors() {
        Run t = cli("tokenize", "--tokenizer", "../models/ppsd-mini/tokenizer.json", "--text", "public static void", "--json");
        assertEquals(0, t.exit(), t.err());
        assertTrue(t.out().contains("\"ids\":[0,"), t.out());
        Run bad = cli("generate", "--model", tmp.resolve("none").toString(), "--prompt", "x");
        assertEquals(1, bad.exit());
        assertTrue(bad.err().contains("error:"), bad.err());
        Run emptyStop = cli("generate", "--model", "../models/ppsd-mini", "--prompt", "x", "--stop", "", "--strategy", "ar");
        assertEquals(1, emptyStop.exit());
        assertTrue(emptyStop.err().contains("stop string must not be empty"), emptyStop.err());
        Run badStrategy = cli("generate", "--model", "../models/ppsd-mini", "--prompt", "x", "--strategy", "fast");
        assertTrue(badStrategy.err().contains("unknown strategy 'fast'"), badStrategy.err());
        Run targetWithoutPipespec = cli("generate", "--model", "../models/ppsd-mini", "--prompt", "x", "--target", "ppsd");
        assertEquals(1, targetWithoutPipespec.exit());
        assertTrue(targetWithoutPipespec.err().contains("--target is for --strategy pipespec"), targetWithoutPipespec.err());
        Run badTarget = cli("generate", "--model", "../models/ppsd-mini", "--prompt", "x", "--strategy", "pipespec", "--target", "half",
                "--draft-models", "../models/ppsd-mini-draft");
        assertTrue(badTarget.err().contains("--target must be whole or ppsd"), badTarget.err());
        Run badVocabulary = cli("generate", "--model", "../models/ppsd-mini", "--prompt", "x", "--head", "transformer-l4+v99999");
        assertEquals(1, badVocabulary.exit());
        assertTrue(badVocabulary.err().contains("1 to 4096 tokens"), badVocabulary.err());
    }
}
