package io.ppsd.benchmarks.suite;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The prompts of a run: the first {@code perKind} held-out prose and code prompts of the model
 * ({@code prompts/prose.jsonl}, {@code prompts/code.jsonl}, one {@code {"id", "text"}} per line),
 * tokenized with the model's tokenizer and alternating prose/code; without prompt files or a
 * tokenizer, seeded random token ids (tests, random models).
 */
public record PromptSet(String source, List<String> ids, List<int[]> tokens) {

    public static PromptSet load(Path modelDir, ModelConfig config, int perKind, int maxPromptTokens) throws IOException {
        Path tokenizerFile = modelDir.resolve("tokenizer.json");
        Path prose = modelDir.resolve("prompts/prose.jsonl"), code = modelDir.resolve("prompts/code.jsonl");
        if (!Files.isRegularFile(tokenizerFile) || !Files.isRegularFile(prose) || !Files.isRegularFile(code)) {
            return random(config, 2 * perKind, maxPromptTokens);
        }
        Tokenizer tokenizer = Tokenizer.load(tokenizerFile);
        if (tokenizer.vocabSize() > config.vocabSize()) return random(config, 2 * perKind, maxPromptTokens);
        List<String[]> p = read(prose, perKind), c = read(code, perKind);
        List<String> ids = new ArrayList<>();
        List<int[]> tokens = new ArrayList<>();
        for (int i = 0; i < Math.max(p.size(), c.size()); i++) {
            for (List<String[]> kind : List.of(p, c)) {
                if (i >= kind.size()) continue;
                int[] t = tokenizer.encode(kind.get(i)[1]);
                // Keep the end of a long prompt: it is what the next tokens continue.
                if (t.length > maxPromptTokens) t = Arrays.copyOfRange(t, t.length - maxPromptTokens, t.length);
                ids.add(kind.get(i)[0]);
                tokens.add(t);
            }
        }
        return new PromptSet(modelDir.relativize(prose).getParent().toString() + "/{prose,code}.jsonl", ids, tokens);
    }

    private static List<String[]> read(Path jsonl, int n) throws IOException {
        var mapper = new ObjectMapper();
        List<String[]> out = new ArrayList<>();
        for (String line : Files.readAllLines(jsonl)) {
            if (line.isBlank()) continue;
            var node = mapper.readTree(line);
            out.add(new String[] {node.path("id").asText("line" + out.size()), node.path("text").asText()});
            if (out.size() == n) break;
        }
        return out;
    }

    public static PromptSet random(ModelConfig config, int count, int maxPromptTokens) {
        var r = new SplittableRandom(1234);
        List<String> ids = new ArrayList<>();
        List<int[]> tokens = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int len = Math.max(1, Math.min(maxPromptTokens, 16 + r.nextInt(48)));
            int[] t = new int[len];
            for (int j = 0; j < len; j++) t[j] = 2 + r.nextInt(config.vocabSize() - 2);
            ids.add("random-" + i);
            tokens.add(t);
        }
        return new PromptSet("random token ids", ids, tokens);
    }

    public int size() {
        return tokens.size();
    }
}
