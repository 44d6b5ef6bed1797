package io.ppsd.runtime.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Inputs chosen to hit every branch of pre-tokenization, byte handling and added-token splitting. */
final class SampleTexts {
    private SampleTexts() {}

    static final List<String> FIXED = List.of(
            "",
            " ",
            "  ",
            "\n",
            "Hello world",
            "Hello, world! How are you today?",
            "The quick brown fox jumps over the lazy dog. It was 1234567 degrees; pi is 3.14159.",
            "I'll go, you'd better not. DON'T! She's here, they've left, we're done, I'm fine, HE'LL see.",
            "   leading and trailing spaces   ",
            "tabs\tand\t\tmore\ttabs",
            "line one\nline two\r\nline three\r\n\r\n\n\nend\n",
            "multiple     spaces      between\u00a0\u00a0nbsp and\u3000ideographic space",
            "public final class Foo {\n    private int x = 42;\n\n    @Override\n    public String toString() {\n"
                    + "        return \"Foo[\" + x + \"]\";\n    }\n}\n",
            "def fib(n):\n\tif n < 2:\n\t\treturn n\n\treturn fib(n - 1) + fib(n - 2)\n\nprint([fib(i) for i in range(10)])\n",
            "if (a && b || !c) { x += y >> 2; } // comment /* block */ #include <stdio.h>",
            "café naïve résumé Straße ÆØÅ æøå ñ Ç ü",
            "e\u0301 a\u0300\u0316 combining marks: Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f",
            "中文测试：你好，世界！日本語のテキストです。한국어 텍스트입니다.",
            "العربية: مرحبا بالعالم، كيف حالك؟ עברית: שלום עולם",
            "Русский текст, Ελληνικά γράμματα, हिन्दी पाठ, ภาษาไทย",
            "emoji 😀🎉🚀 family 👨‍👩‍👧‍👦 skin 👍🏽👋🏿 flags 🇺🇸🇯🇵 heart ❤️ keycap 1️⃣",
            "math ∑∫∂√∞ ≤ ≥ ≠ ± × ÷ → ⇒ ∀∃ ℝ² x₁ ½ ⅓",
            "numbers 1 12 123 1234 12345 1,234,567.89 0x1F -42 3e10 ١٢٣ ½",
            "URL https://example.com/path?q=1&r=two#frag mail: a.b@c.de",
            "<|begin_of_text|>Hello<|eot_id|> and <s>llama</s> tags",
            "text before <|start_header_id|>user<|end_header_id|>\n\nWhat?<|eot_id|>",
            "<s> leading special and trailing </s>",
            "<<|eot_id|>> nested <|eot_id|<|eot_id|>|>",
            "x'ſ KELVIN \u212a 'S 'LL ' apostrophes ''",
            "\u2028line sep\u2029para sep\u0085nel \u000b vt \u000c ff",
            "!!!??? ... --- *** ___ ===",
            "trailing newline\n\n",
            "a",
            "🎉",
            "\t",
            "\r\n");

    /**
     * A few KB of random "words" drawn from many scripts, with random whitespace and punctuation
     * between them. Fixed seed so failures reproduce.
     */
    static String randomMixed(long seed, int codePoints) {
        int[][] ranges = {
            {'a', 'z'}, {'A', 'Z'}, {'0', '9'}, {0x21, 0x2F}, {0xC0, 0xFF}, {0x100, 0x17F}, {0x391, 0x3C9},
            {0x410, 0x44F}, {0x5D0, 0x5EA}, {0x620, 0x64A}, {0x900, 0x97F}, {0xE01, 0xE3A}, {0x3041, 0x3096},
            {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}, {0x1F300, 0x1F64F}, {0x1F680, 0x1F6FF}, {0x300, 0x36F},
            {0x2000, 0x206F}, {0xFF01, 0xFF5E}, {0x1D400, 0x1D7FF}, {0x20000, 0x2A6DF},
        };
        String[] separators = {" ", " ", " ", "  ", "\n", "\t", "\r\n", ". ", ", ", "\u00a0", "\u3000", "\n\n", "    "};
        SplittableRandom random = new SplittableRandom(seed);
        StringBuilder sb = new StringBuilder();
        int count = 0;
        while (count < codePoints) {
            int[] range = ranges[random.nextInt(ranges.length)];
            int length = 1 + random.nextInt(8);
            for (int i = 0; i < length; i++) {
                int cp = range[0] + random.nextInt(range[1] - range[0] + 1);
                if (Character.isDefined(cp) && !Character.isSurrogate((char) cp) || cp > 0xFFFF) {
                    sb.appendCodePoint(cp);
                    count++;
                }
            }
            if (random.nextInt(10) == 0) {
                sb.append("\u200d"); // zero-width joiner inside or after a word
            }
            sb.append(separators[random.nextInt(separators.length)]);
        }
        return sb.toString();
    }

    /** FIXED plus several random texts. */
    static List<String> all() {
        List<String> all = new ArrayList<>(FIXED);
        for (long seed = 1; seed <= 6; seed++) {
            all.add(randomMixed(seed, 800 + (int) seed * 300));
        }
        return all;
    }
}
