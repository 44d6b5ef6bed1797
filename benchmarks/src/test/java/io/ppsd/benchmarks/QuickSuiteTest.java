package io.ppsd.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ppsd.benchmarks.model.RandomLlama;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CI smoke test of the harness: the quick suite on a tiny random model writes its files, and
 * the numbers in them are sane (positive speeds, α within [0, 1], speculative outputs equal to
 * autoregressive ones). Nothing here asserts a speed.
 */
class QuickSuiteTest {
    @TempDir
    Path tmp;

    @Test
    void quickSuiteWritesSaneResults() throws Exception {
        Path model = RandomLlama.tiny().write(tmp.resolve("tiny"));
        Path out = tmp.resolve("out");
        var console = new ByteArrayOutputStream();
        new SpeculationCommand("default", true, model, out, 2, null, 1, List.of("in-process"), io.ppsd.benchmarks.run.WindowChoice.parse("adaptive"), "test", new RepoLayout(tmp),
                new PrintStream(console, true, StandardCharsets.UTF_8)).run();

        for (String f : List.of("results.csv", "results.json", "results.md", "ppsd-vs-theory.png", "measured-vs-theory.png")) {
            assertTrue(Files.size(out.resolve(f)) > 0, f + " written");
        }
        String progress = console.toString(StandardCharsets.UTF_8);
        assertTrue(progress.contains("[1/") && progress.contains("ETA"), "progress on the console: " + progress);

        JsonNode results = new ObjectMapper().readTree(out.resolve("results.json").toFile()).get("results");
        List<String> csv = Files.readAllLines(out.resolve("results.csv"));
        assertEquals(results.size() + 1, csv.size(), "one CSV line per result plus the header");
        assertTrue(results.size() >= 6);
        int ppsd = 0;
        for (JsonNode r : results) {
            String id = r.get("id").asText();
            assertTrue(r.get("tokens_per_second").asDouble() > 0, id);
            assertTrue(r.get("ar_tokens_per_second").asDouble() > 0, id);
            assertTrue(r.get("speedup").asDouble() > 0, id);
            assertTrue(r.get("outputs_match_ar").asBoolean(), id + ": greedy output equals AR's");
            if (!r.get("strategy").asText().equals("ar")) {
                double alpha = r.get("alpha").asDouble();
                assertTrue(alpha >= 0 && alpha <= 1, id + " α " + alpha);
                assertTrue(r.get("theory").asDouble() > 0, id);
                assertTrue(r.get("tokens_per_step").asDouble() > 0, id);
            }
            if (r.get("strategy").asText().equals("ppsd")) {
                ppsd++;
                assertEquals((8 + r.get("exit_layer").asInt() - 1) / r.get("exit_layer").asInt(), r.get("stages").asInt(), id);
            }
        }
        assertTrue(ppsd >= 2, "PPSD on CPU and on simulated devices");
    }
}
