package io.ppsd.runtime.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code decoder} section: turns token pieces back into text. Each step maps a list of strings
 * to a list of strings (HF's {@code decode_chain}); the final text is their concatenation. Keeping
 * HF's per-token granularity matters, e.g. Strip and Metaspace only touch the first token.
 */
sealed interface TokenDecoder {
    List<String> decodeChain(List<String> tokens);

    /** Byte-level pieces back to bytes, then lossy UTF-8 (invalid bytes become U+FFFD). */
    record ByteLevel() implements TokenDecoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            for (String token : tokens) {
                ByteLevelAlphabet.decodeInto(token, bytes);
            }
            return new ArrayList<>(List.of(bytes.toString(StandardCharsets.UTF_8)));
        }
    }

    record Replace(Pattern pattern, String content) implements TokenDecoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            String replacement = Matcher.quoteReplacement(content);
            List<String> out = new ArrayList<>(tokens.size());
            for (String token : tokens) {
                out.add(pattern.matcher(token).replaceAll(replacement));
            }
            return out;
        }
    }

    /**
     * Runs of {@code <0xAB>} tokens become the text their bytes spell. A run that is not valid
     * UTF-8 becomes one U+FFFD per byte, as in HF (this is what the streaming decoder waits out).
     */
    record ByteFallback() implements TokenDecoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            ByteArrayOutputStream run = new ByteArrayOutputStream();
            for (String token : tokens) {
                int b = byteValue(token);
                if (b >= 0) {
                    run.write(b);
                    continue;
                }
                flush(run, out);
                out.add(token);
            }
            flush(run, out);
            return out;
        }

        private static void flush(ByteArrayOutputStream run, List<String> out) {
            if (run.size() == 0) {
                return;
            }
            byte[] bytes = run.toByteArray();
            run.reset();
            try {
                out.add(StandardCharsets.UTF_8.newDecoder()
                        .decode(java.nio.ByteBuffer.wrap(bytes)).toString());
            } catch (java.nio.charset.CharacterCodingException e) {
                out.add("\uFFFD".repeat(bytes.length));
            }
        }

        static int byteValue(String token) {
            if (token.length() != 6 || !token.startsWith("<0x") || token.charAt(5) != '>') {
                return -1;
            }
            int hi = Character.digit(token.charAt(3), 16);
            int lo = Character.digit(token.charAt(4), 16);
            return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
        }
    }

    record Fuse() implements TokenDecoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            return new ArrayList<>(List.of(String.join("", tokens)));
        }
    }

    /** Removes up to {@code start} leading and {@code stop} trailing {@code content} chars per token. */
    record Strip(int content, int start, int stop) implements TokenDecoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            for (String token : tokens) {
                int[] cps = token.codePoints().toArray();
                int from = 0;
                while (from < start && from < cps.length && cps[from] == content) {
                    from++;
                }
                int to = cps.length;
                int cut = 0;
                while (cut < stop && to > from && cps[to - 1] == content) {
                    to--;
                    cut++;
                }
                out.add(new String(cps, from, to - from));
            }
            return out;
        }
    }

    /**
     * The replacement char becomes a space; in the first token it is dropped instead unless the
     * prepend scheme is "never" (the pre-tokenizer added one, so decoding removes it). HF drops
     * every replacement char of the first token, not only the leading one, so "▁▁" alone
     * decodes to ""; we do the same to stay id-for-id and string-for-string compatible.
     */
    record Metaspace(char replacement, boolean prependsSpace) implements TokenDecoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            for (int i = 0; i < tokens.size(); i++) {
                String token = tokens.get(i);
                StringBuilder sb = new StringBuilder(token.length());
                for (int k = 0; k < token.length(); k++) {
                    char c = token.charAt(k);
                    if (c != replacement) {
                        sb.append(c);
                    } else if (!(i == 0 && prependsSpace)) {
                        sb.append(' ');
                    }
                }
                out.add(sb.toString());
            }
            return out;
        }
    }

    record Sequence(List<TokenDecoder> steps) implements TokenDecoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            for (TokenDecoder step : steps) {
                tokens = step.decodeChain(tokens);
            }
            return tokens;
        }
    }
}
