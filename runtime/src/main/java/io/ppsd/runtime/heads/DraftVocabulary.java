package io.ppsd.runtime.heads;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.model.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;

/**
 * The tokens a reduced-vocabulary draft head drafts among (FR-Spec's idea): the {@code size} most
 * frequent tokens of the model's training text, listed most frequent first in the model
 * directory's {@code token_frequencies.json}. The head's projection then has only these rows, so
 * stage 0 reads {@code size / vocab} of an LM head per draft. Lossless: the draft is always one
 * of these tokens, verification is the full model's as ever, and under sampling the draft
 * distribution is the head's softmax over these tokens (zero elsewhere) — the one drafted from.
 *
 * <p>File format: {@code format_version} 1, {@code token_ids} (every token at most once, most
 * frequent first; it may list fewer than the vocabulary), optionally {@code counts} (same length)
 * and {@code description}, {@code tokens_counted}, {@code source}.
 */
public record DraftVocabulary(int[] tokenIds) {
    public static final String FILE = "token_frequencies.json";
    private static final Set<String> KNOWN_KEYS = Set.of("format_version", "token_ids", "counts", "description", "tokens_counted", "source");

    public int size() {
        return tokenIds.length;
    }

    /** The {@code size} most frequent tokens of the model in {@code modelDir}. */
    public static DraftVocabulary read(Path modelDir, int size, ModelConfig config) {
        Path file = modelDir.resolve(FILE);
        if (!Files.isRegularFile(file)) {
            throw new ModelFormatException(file, "missing: a reduced-vocabulary head (+v" + size + ") drafts among the most frequent tokens listed there"
                    + " (tools/train-heads/train_exit_heads.py --token-frequencies writes it)");
        }
        if (size < 1 || size > config.vocabSize()) {
            throw new IllegalArgumentException("a draft vocabulary must have 1 to " + config.vocabSize() + " tokens, got " + size);
        }
        JsonNode root = VersionedJson.read(file, KNOWN_KEYS);
        JsonNode ids = root.get("token_ids");
        if (ids == null || !ids.isArray()) throw new ModelFormatException(file, "'token_ids' must be an array of token ids, most frequent first");
        if (ids.size() < size) throw new ModelFormatException(file, "lists " + ids.size() + " tokens, fewer than the " + size + " asked for");
        JsonNode counts = root.get("counts");
        if (counts != null && (!counts.isArray() || counts.size() != ids.size())) {
            throw new ModelFormatException(file, "'counts' must be an array as long as 'token_ids'");
        }
        boolean[] seen = new boolean[config.vocabSize()];
        int[] out = new int[size];
        for (int i = 0; i < ids.size(); i++) {
            JsonNode t = ids.get(i);
            if (!t.isIntegralNumber() || t.asLong() < 0 || t.asLong() >= config.vocabSize()) {
                throw new ModelFormatException(file, "token_ids[" + i + "] = " + t + " is not a token id of this model (vocabulary " + config.vocabSize() + ")");
            }
            int id = t.asInt();
            if (seen[id]) throw new ModelFormatException(file, "token " + id + " is listed twice (token_ids[" + i + "])");
            seen[id] = true;
            if (i < size) out[i] = id;
        }
        return new DraftVocabulary(out);
    }

    /** Writes {@code tokenIds} (most frequent first) as the model's frequency list: the format {@link #read} reads. */
    public static void write(Path modelDir, int[] tokenIds, String description) {
        var root = new ObjectMapper().createObjectNode();
        root.put("format_version", 1);
        root.put("description", description);
        var ids = root.putArray("token_ids");
        for (int t : tokenIds) ids.add(t);
        try {
            Files.writeString(modelDir.resolve(FILE), root.toString());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * Spreads {@code size()} logits of the reduced projection ({@code reduced[0, size)}) over a
     * full vocabulary row at {@code out[off, off + vocab)}: −∞ for every token the head cannot
     * draft, so greedy and sampling work on the full row unchanged.
     */
    public void scatter(float[] reduced, float[] out, int off, int vocab) {
        scatter(reduced, 0, out, off, vocab);
    }

    /** The same for the reduced row at {@code from} of {@code reduced}. */
    public void scatter(float[] reduced, int from, float[] out, int off, int vocab) {
        Arrays.fill(out, off, off + vocab, Float.NEGATIVE_INFINITY);
        for (int i = 0; i < tokenIds.length; i++) out[off + tokenIds[i]] = reduced[from + i];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DraftVocabulary v && Arrays.equals(tokenIds, v.tokenIds);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(tokenIds);
    }

    @Override
    public String toString() {
        return "DraftVocabulary[" + tokenIds.length + " tokens]";
    }
}
