package io.ppsd.runtime.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * GPT-2's {@code bytes_to_unicode} table: every byte gets a printable character so byte-level BPE
 * vocabularies can be stored as JSON strings. Printable Latin-1 bytes map to themselves, the other
 * 68 bytes to U+0100 and up, in byte order (this exact assignment is what the vocab files rely on).
 */
final class ByteLevelAlphabet {
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int next = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + next++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevelAlphabet() {}

    /** Maps the UTF-8 bytes of {@code text} to one alphabet character each. */
    static String encode(String text) {
        int n = text.length();
        boolean ascii = true;
        for (int i = 0; i < n; i++) {
            if (text.charAt(i) >= 0x80) {
                ascii = false;
                break;
            }
        }
        char[] out;
        if (ascii) {
            // Fast path for the common case: ASCII is its own UTF-8, skip the byte[] allocation.
            out = new char[n];
            for (int i = 0; i < n; i++) {
                out[i] = BYTE_TO_CHAR[text.charAt(i)];
            }
        } else {
            byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
            out = new char[bytes.length];
            for (int i = 0; i < bytes.length; i++) {
                out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
            }
        }
        return new String(out);
    }

    /**
     * Appends the bytes {@code token} stands for. Like HF's ByteLevel decoder, a token containing
     * any character outside the alphabet (typically an added token such as one with a space in
     * it) is taken literally as UTF-8 instead.
     */
    static void decodeInto(String token, ByteArrayOutputStream out) {
        int n = token.length();
        for (int i = 0; i < n; i++) {
            char c = token.charAt(i);
            if (c >= CHAR_TO_BYTE.length || CHAR_TO_BYTE[c] < 0) {
                out.writeBytes(token.getBytes(StandardCharsets.UTF_8));
                return;
            }
        }
        for (int i = 0; i < n; i++) {
            out.write(CHAR_TO_BYTE[token.charAt(i)]);
        }
    }
}
