package io.ppsd.runtime.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code pre_tokenizer} section: splits a text section into the "words" BPE works on. Each
 * step maps the current list of pieces to a new list, as HF's PreTokenizedString does; empty pieces
 * are dropped.
 */
sealed interface PreTokenizer {
    /**
     * @param pieces pieces produced so far (initially the whole section)
     * @param atTextStart whether the first piece starts at offset 0 of the encoded text (only
     *     Metaspace's prepend_scheme "first" cares)
     */
    List<String> split(List<String> pieces, boolean atTextStart);

    /** GPT-2's pre-tokenization regex, used by ByteLevel when {@code use_regex} is true. */
    String GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    /** How a match and its neighbours become pieces (HF's SplitDelimiterBehavior). */
    enum Behavior { REMOVED, ISOLATED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS }

    /** Compiles an HF (Oniguruma) regex for Java. */
    static Pattern compileRegex(String regex) {
        // Oniguruma's \s, \w and case folding are Unicode-aware; Java's are ASCII-only unless
        // asked. LLaMA-3's pattern depends on \s matching e.g. U+3000 and U+00A0.
        return Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS);
    }

    record Split(Pattern pattern, Behavior behavior, boolean invert) implements PreTokenizer {
        @Override
        public List<String> split(List<String> pieces, boolean atTextStart) {
            List<String> out = new ArrayList<>(pieces.size() * 4);
            for (String piece : pieces) {
                splitOne(piece, pattern, behavior, invert, out);
            }
            return out;
        }
    }

    /** Maps text to the byte-level alphabet, optionally after splitting with the GPT-2 regex. */
    record ByteLevel(boolean addPrefixSpace, Pattern regex) implements PreTokenizer {
        @Override
        public List<String> split(List<String> pieces, boolean atTextStart) {
            List<String> out = new ArrayList<>(pieces.size() * 4);
            for (String piece : pieces) {
                if (addPrefixSpace && !piece.startsWith(" ")) {
                    piece = " " + piece;
                }
                if (regex == null) {
                    out.add(piece);
                } else {
                    splitOne(piece, regex, Behavior.ISOLATED, false, out);
                }
            }
            out.replaceAll(ByteLevelAlphabet::encode);
            return out;
        }
    }

    /** SentencePiece-style: spaces become the replacement char, which then starts each word. */
    record Metaspace(char replacement, String prependScheme, boolean splitWords) implements PreTokenizer {
        @Override
        public List<String> split(List<String> pieces, boolean atTextStart) {
            List<String> out = new ArrayList<>(pieces.size() * 4);
            String rep = String.valueOf(replacement);
            Pattern onReplacement = Pattern.compile(Pattern.quote(rep));
            for (int i = 0; i < pieces.size(); i++) {
                String piece = pieces.get(i).replace(" ", rep);
                boolean prepend = switch (prependScheme) {
                    case "always" -> true;
                    case "first" -> atTextStart && i == 0;
                    default -> false;
                };
                if (prepend && !piece.startsWith(rep)) {
                    piece = rep + piece;
                }
                if (splitWords) {
                    splitOne(piece, onReplacement, Behavior.MERGED_WITH_NEXT, false, out);
                } else if (!piece.isEmpty()) {
                    out.add(piece);
                }
            }
            return out;
        }
    }

    record Sequence(List<PreTokenizer> steps) implements PreTokenizer {
        @Override
        public List<String> split(List<String> pieces, boolean atTextStart) {
            for (PreTokenizer step : steps) {
                pieces = step.split(pieces, atTextStart);
            }
            return pieces;
        }
    }

    /**
     * Splits {@code text} at the matches of {@code pattern} following HF's
     * {@code NormalizedString::split}: matches and the gaps between them are alternating segments,
     * which the behavior keeps, drops or glues together.
     */
    private static void splitOne(String text, Pattern pattern, Behavior behavior, boolean invert, List<String> out) {
        if (text.isEmpty()) {
            return;
        }
        if (behavior == Behavior.ISOLATED) {
            // Hot path (every byte-level model): matches and gaps alike become pieces.
            Matcher m = pattern.matcher(text);
            int prev = 0;
            while (m.find()) {
                if (m.start() == m.end()) {
                    continue;
                }
                if (prev != m.start()) {
                    out.add(text.substring(prev, m.start()));
                }
                out.add(text.substring(m.start(), m.end()));
                prev = m.end();
            }
            if (prev != text.length()) {
                out.add(text.substring(prev));
            }
            return;
        }
        // Segments as (start, end, isMatch) triples.
        List<int[]> segments = new ArrayList<>();
        Matcher m = pattern.matcher(text);
        int prev = 0;
        while (m.find()) {
            if (m.start() == m.end()) {
                continue; // empty matches produce empty pieces, which HF discards anyway
            }
            if (prev != m.start()) {
                segments.add(new int[] {prev, m.start(), invert ? 1 : 0});
            }
            segments.add(new int[] {m.start(), m.end(), invert ? 0 : 1});
            prev = m.end();
        }
        if (prev != text.length()) {
            segments.add(new int[] {prev, text.length(), invert ? 1 : 0});
        }
        switch (behavior) {
            case ISOLATED -> throw new AssertionError("handled above");
            case REMOVED -> {
                for (int[] s : segments) {
                    if (s[2] == 0) {
                        out.add(text.substring(s[0], s[1]));
                    }
                }
            }
            case CONTIGUOUS -> {
                int start = 0;
                for (int i = 0; i < segments.size(); i++) {
                    int[] s = segments.get(i);
                    boolean last = i + 1 == segments.size();
                    if (last || segments.get(i + 1)[2] != s[2]) {
                        out.add(text.substring(start, s[1]));
                        start = s[1];
                    }
                }
            }
            case MERGED_WITH_PREVIOUS -> {
                List<int[]> merged = new ArrayList<>();
                boolean previousMatch = false;
                for (int[] s : segments) {
                    if (s[2] == 1 && !previousMatch && !merged.isEmpty()) {
                        merged.getLast()[1] = s[1];
                    } else {
                        merged.add(new int[] {s[0], s[1]});
                    }
                    previousMatch = s[2] == 1;
                }
                for (int[] s : merged) {
                    out.add(text.substring(s[0], s[1]));
                }
            }
            case MERGED_WITH_NEXT -> {
                List<int[]> merged = new ArrayList<>();
                boolean previousMatch = false;
                for (int i = segments.size() - 1; i >= 0; i--) {
                    int[] s = segments.get(i);
                    if (s[2] == 1 && !previousMatch && !merged.isEmpty()) {
                        merged.getLast()[0] = s[0];
                    } else {
                        merged.add(new int[] {s[0], s[1]});
                    }
                    previousMatch = s[2] == 1;
                }
                for (int i = merged.size() - 1; i >= 0; i--) {
                    out.add(text.substring(merged.get(i)[0], merged.get(i)[1]));
                }
            }
        }
    }
}
