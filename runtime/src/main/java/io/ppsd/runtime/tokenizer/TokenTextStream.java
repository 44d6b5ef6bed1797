package io.ppsd.runtime.tokenizer;

import java.util.Arrays;

/**
 * Incremental decoding of generated tokens. Text is released only once it is final: a character
 * whose UTF-8 bytes span several byte tokens comes out when its last byte arrives, and a
 * SentencePiece word's leading space is emitted the same way {@link Tokenizer#decode} would.
 *
 * <p>Same scheme as HF's DecodeStream: decode a short window of recent ids, and release the text
 * beyond what the window's older part ({@code prefix}) decoded to, unless it ends in U+FFFD (an
 * incomplete character). Decoding through the tokenizer's own decoder, rather than a second
 * byte-level implementation, keeps the stream consistent with {@code decode} for every supported
 * decoder. The concatenation of all returned strings equals {@code decode(allIds)}.
 * Not thread-safe; one per generation.
 */
public final class TokenTextStream {
    private final Tokenizer tokenizer;
    private final boolean skipSpecialTokens;
    private int[] ids = new int[16];
    private int size;
    /** Text the ids before {@code prefixIndex} decode to (already emitted). */
    private String prefix = "";
    private int prefixIndex;

    TokenTextStream(Tokenizer tokenizer, boolean skipSpecialTokens) {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
    }

    /** Adds one token; returns the newly completed text, possibly empty. */
    public String next(int id) {
        if (size == ids.length) {
            ids = Arrays.copyOf(ids, size * 2);
        }
        ids[size++] = id;
        String text = tokenizer.decode(Arrays.copyOf(ids, size), skipSpecialTokens);
        if (text.length() <= prefix.length() || text.endsWith("\uFFFD")) {
            return "";
        }
        if (!text.startsWith(prefix)) {
            // Cannot happen with the supported decoders; fail loudly rather than emit garbage.
            throw new IllegalStateException("decoded text no longer extends the emitted prefix");
        }
        String fresh = text.substring(prefix.length());
        // Keep only the ids after the old prefix: they are the context the next token needs
        // (a following byte token, or the first-token rules of Strip/Metaspace).
        int keepFrom = prefixIndex;
        int newPrefixIndex = size - keepFrom;
        ids = Arrays.copyOfRange(ids, keepFrom, Math.max(size, keepFrom + 16));
        size -= keepFrom;
        prefix = tokenizer.decode(Arrays.copyOf(ids, size), skipSpecialTokens);
        prefixIndex = newPrefixIndex;
        return fresh;
    }

    /**
     * Returns whatever is still pending (an incomplete character decodes to U+FFFD) and resets
     * the stream. Call at the end of generation.
     */
    public String flush() {
        String text = tokenizer.decode(Arrays.copyOf(ids, size), skipSpecialTokens);
        String rest = text.length() > prefix.length() && text.startsWith(prefix) ? text.substring(prefix.length()) : "";
        size = 0;
        prefix = "";
        prefixIndex = 0;
        return rest;
    }
}
