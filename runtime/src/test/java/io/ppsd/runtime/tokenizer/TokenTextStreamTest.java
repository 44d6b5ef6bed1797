package io.ppsd.runtime.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TokenTextStreamTest {

    @ParameterizedTest
    @ValueSource(strings = {"llama3", "llama2"})
    void streamedChunksConcatenateToDecodeAndNeverSplitACharacter(String name) {
        Tokenizer t = ReferenceTokenizers.ours(name);
        for (String text : SampleTexts.all()) {
            int[] ids = t.encode(text, true);
            for (boolean skip : new boolean[] {true, false}) {
                TokenTextStream stream = t.newTextStream(skip);
                StringBuilder out = new StringBuilder();
                for (int id : ids) {
                    String chunk = stream.next(id);
                    assertFalse(chunk.contains("\uFFFD"), () -> "partial character emitted for " + TokenizerReferenceTest.escape(text));
                    assertFalse(!chunk.isEmpty() && Character.isLowSurrogate(chunk.charAt(0)), "split surrogate pair");
                    out.append(chunk);
                }
                out.append(stream.flush());
                assertEquals(t.decode(ids, skip), out.toString(), () -> name + " " + TokenizerReferenceTest.escape(text));
            }
        }
    }

    @Test
    void multiByteCharacterFromByteFallbackTokensWaitsForItsLastByte() {
        Tokenizer t = ReferenceTokenizers.ours("llama2");
        // U+2000B (4 UTF-8 bytes) is not in the vocab: it is encoded as four <0x..> tokens.
        String text = "ok \uD840\uDC0B!";
        int[] ids = t.encode(text, true);
        TokenTextStream stream = t.newTextStream();
        List<String> chunks = new ArrayList<>();
        int byteTokens = 0;
        for (int id : ids) {
            boolean isByte = t.tokenPiece(id).startsWith("<0x");
            String chunk = stream.next(id);
            if (isByte) {
                byteTokens++;
                // Nothing may come out until the 4th byte completes the character.
                assertEquals(byteTokens < 4 ? "" : "\uD840\uDC0B", chunk);
            }
            chunks.add(chunk);
        }
        assertEquals(4, byteTokens);
        assertEquals(text, String.join("", chunks) + stream.flush());
        assertEquals("ok", chunks.get(1)); // leading "▁" dropped as decode does; chunks.get(0) is <s>
    }

    @Test
    void byteLevelEmojiSplitAcrossTokensIsEmittedWhole() {
        Tokenizer t = ReferenceTokenizers.ours("llama3");
        String text = "a👨‍👩‍👧b";
        int[] ids = t.encode(text, false);
        assertTrue(ids.length > 3);
        TokenTextStream stream = t.newTextStream();
        StringBuilder out = new StringBuilder();
        for (int id : ids) {
            String chunk = stream.next(id);
            chunk.codePoints().forEach(cp -> assertTrue(Character.isValidCodePoint(cp) && cp != 0xFFFD));
            out.append(chunk);
        }
        assertEquals(text, out.toString());
        assertEquals("", stream.flush());
    }

    @Test
    void flushReportsAnIncompleteCharacter() {
        Tokenizer t = ReferenceTokenizers.ours("llama2");
        TokenTextStream stream = t.newTextStream();
        int e4 = t.tokenId("<0xE4>").orElseThrow();
        assertEquals("", stream.next(e4));
        assertEquals("\uFFFD", stream.flush());
        // After a flush the stream starts over.
        assertEquals("Hi", stream.next(t.encode("Hi", false)[0]));
    }
}
