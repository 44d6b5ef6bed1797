package io.ppsd.runtime.tokenizer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Finds added tokens in text the way HF's AddedVocabulary does: leftmost match first and, among
 * matches starting at the same place, the longest; non-overlapping; then the single_word, lstrip
 * and rstrip options adjust or veto each match.
 */
final class AddedTokenMatcher {
    /** A piece of the input: either plain text ({@code token == null}) or one added token. */
    record Segment(int start, int end, AddedToken token) {}

    /** Tokens by first char, longest first, so the first hit at a position is the longest. */
    private final Map<Character, List<AddedToken>> byFirstChar = new HashMap<>();
    /** The texts to match; for normalized tokens this is their normalized form. */
    private final Map<AddedToken, String> patterns = new HashMap<>();

    AddedTokenMatcher(List<AddedToken> tokens, java.util.function.UnaryOperator<String> patternOf) {
        for (AddedToken t : tokens) {
            String p = patternOf.apply(t.content());
            if (p.isEmpty()) {
                continue;
            }
            patterns.put(t, p);
            byFirstChar.computeIfAbsent(p.charAt(0), c -> new ArrayList<>()).add(t);
        }
        for (List<AddedToken> list : byFirstChar.values()) {
            list.sort(Comparator.comparingInt((AddedToken t) -> patterns.get(t).length()).reversed());
        }
    }

    boolean isEmpty() {
        return patterns.isEmpty();
    }

    /** Splits {@code text} into alternating plain and token segments, covering all of it. */
    List<Segment> split(String text) {
        List<Segment> out = new ArrayList<>();
        int n = text.length();
        int plainStart = 0;
        int i = 0;
        while (i < n) {
            List<AddedToken> candidates = byFirstChar.get(text.charAt(i));
            AddedToken hit = null;
            if (candidates != null) {
                for (AddedToken t : candidates) {
                    if (text.startsWith(patterns.get(t), i)) {
                        hit = t;
                        break;
                    }
                }
            }
            if (hit == null) {
                i++;
                continue;
            }
            int start = i;
            int stop = i + patterns.get(hit).length();
            if (hit.singleWord()) {
                boolean spaceBefore = start == 0 || !isWordChar(text.codePointBefore(start));
                boolean spaceAfter = stop == n || !isWordChar(text.codePointAt(stop));
                if (!spaceBefore || !spaceAfter) {
                    i = stop; // the matcher resumes after a vetoed match, as aho-corasick's find_iter does
                    continue;
                }
            }
            if (hit.lstrip()) {
                while (start > plainStart && isWhiteSpace(text.charAt(start - 1))) {
                    start--;
                }
            }
            if (hit.rstrip()) {
                while (stop < n && isWhiteSpace(text.charAt(stop))) {
                    stop++;
                }
            }
            if (plainStart < start) {
                out.add(new Segment(plainStart, start, null));
            }
            out.add(new Segment(start, stop, hit));
            plainStart = stop;
            i = stop;
        }
        if (plainStart < n || out.isEmpty()) {
            out.add(new Segment(plainStart, n, null));
        }
        return out;
    }

    private static boolean isWordChar(int cp) {
        return Character.isLetterOrDigit(cp) || cp == '_';
    }

    /** Unicode White_Space, which is what Rust's char::is_whitespace tests (Java's differs). */
    static boolean isWhiteSpace(char c) {
        return (c >= 0x09 && c <= 0x0D) || c == ' ' || c == 0x85 || c == 0xA0 || c == 0x1680
                || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F
                || c == 0x205F || c == 0x3000;
    }
}
