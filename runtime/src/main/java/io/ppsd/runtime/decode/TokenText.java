package io.ppsd.runtime.decode;

/**
 * Incremental detokenization for stop strings: given the next token, the text it completes (maybe
 * empty while a multi-byte character is still partial). Adapts a tokenizer without making decoding
 * depend on one.
 */
@FunctionalInterface
public interface TokenText {
    String append(int token);
}
