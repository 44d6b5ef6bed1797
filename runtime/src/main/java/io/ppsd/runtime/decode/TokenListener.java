package io.ppsd.runtime.decode;

/** Receives each committed token as soon as it is final (streaming output). */
@FunctionalInterface
public interface TokenListener {
    TokenListener NONE = token -> {};

    void onToken(int token);
}
