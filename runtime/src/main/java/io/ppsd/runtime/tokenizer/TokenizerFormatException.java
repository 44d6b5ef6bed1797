package io.ppsd.runtime.tokenizer;

/**
 * A {@code tokenizer.json} that cannot be used: malformed JSON, a missing or ill-typed field, or a
 * feature this runtime does not implement. The message always names the source (file path or the
 * name given to {@link Tokenizer#fromJson}) and the offending field, so a user can tell which file
 * to fix or which model is unsupported without reading a stack trace.
 */
public final class TokenizerFormatException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final String source;

    TokenizerFormatException(String source, String detail) {
        super(source + ": " + detail);
        this.source = source;
    }

    TokenizerFormatException(String source, String detail, Throwable cause) {
        super(source + ": " + detail, cause);
        this.source = source;
    }

    /** The file path or source name of the tokenizer that failed to load. */
    public String source() {
        return source;
    }
}
