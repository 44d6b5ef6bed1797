package io.ppsd.runtime.tokenizer;

/**
 * One entry of {@code added_tokens}. These are matched in the raw text before any model-specific
 * processing, so e.g. {@code <|eot_id|>} written in a prompt becomes its single id.
 *
 * @param normalized match against the normalized text instead of the raw text
 */
record AddedToken(int id, String content, boolean special, boolean singleWord, boolean lstrip,
        boolean rstrip, boolean normalized) {}
