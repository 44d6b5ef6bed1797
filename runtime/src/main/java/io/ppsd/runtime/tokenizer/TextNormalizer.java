package io.ppsd.runtime.tokenizer;

import java.text.Normalizer;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The {@code normalizer} section: string-to-string rewrites applied before pre-tokenization. */
sealed interface TextNormalizer {
    String normalize(String text);

    /** SentencePiece-style models use this to put "▁" in front of the text. */
    record Prepend(String prefix) implements TextNormalizer {
        @Override
        public String normalize(String text) {
            // HF leaves an empty string empty, so "" still encodes to no tokens.
            return text.isEmpty() ? text : prefix + text;
        }
    }

    /** Replace every occurrence of a literal string or a regex with fixed content. */
    record Replace(Pattern pattern, String content) implements TextNormalizer {
        @Override
        public String normalize(String text) {
            return pattern.matcher(text).replaceAll(Matcher.quoteReplacement(content));
        }
    }

    record UnicodeForm(Normalizer.Form form) implements TextNormalizer {
        @Override
        public String normalize(String text) {
            return Normalizer.normalize(text, form);
        }
    }

    record Lowercase() implements TextNormalizer {
        @Override
        public String normalize(String text) {
            return text.toLowerCase(Locale.ROOT);
        }
    }

    record Sequence(List<TextNormalizer> steps) implements TextNormalizer {
        @Override
        public String normalize(String text) {
            for (TextNormalizer step : steps) {
                text = step.normalize(text);
            }
            return text;
        }
    }
}
