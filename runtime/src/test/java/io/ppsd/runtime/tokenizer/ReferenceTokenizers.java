package io.ppsd.runtime.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.zip.GZIPInputStream;

/**
 * The real tokenizer files committed under test resources, loaded both by our implementation and
 * by the Rust HF tokenizers library (through DJL's JNI binding, which ships the native library in
 * its jar and needs no network). Loaded once per JVM: the LLaMA-3 file is 9 MB of JSON.
 */
final class ReferenceTokenizers {
    private static final Map<String, String> JSON = new ConcurrentHashMap<>();
    private static final Map<String, Tokenizer> OURS = new ConcurrentHashMap<>();
    private static final Map<String, HuggingFaceTokenizer> HF = new ConcurrentHashMap<>();

    private ReferenceTokenizers() {}

    /** The decompressed tokenizer.json of {@code name} ("llama3" or "llama2"). */
    static String json(String name) {
        return JSON.computeIfAbsent(name, n -> {
            String resource = "/tokenizers/" + n + "/tokenizer.json.gz";
            try (InputStream raw = ReferenceTokenizers.class.getResourceAsStream(resource)) {
                if (raw == null) {
                    throw new IllegalStateException("missing test resource " + resource);
                }
                return new String(new GZIPInputStream(raw).readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    static Tokenizer ours(String name) {
        return OURS.computeIfAbsent(name, n -> Tokenizer.fromJson(json(n), n + "/tokenizer.json"));
    }

    static HuggingFaceTokenizer hf(String name) {
        return HF.computeIfAbsent(name, n -> hfFromJson(json(n)));
    }

    /** A Rust HF tokenizer for arbitrary JSON; the caller closes it. */
    static HuggingFaceTokenizer hfFromJson(String json) {
        // No truncation or padding: we compare the plain encoding of long texts too.
        Map<String, String> options = Map.of("truncation", "false", "padding", "false",
                "maxLength", "100000000", "modelMaxLength", "100000000");
        try {
            return HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)), options);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static int[] hfEncode(HuggingFaceTokenizer hf, String text, boolean addSpecialTokens) {
        long[] ids = hf.encode(text, addSpecialTokens, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    static String hfDecode(HuggingFaceTokenizer hf, int[] ids, boolean skipSpecialTokens) {
        long[] longs = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            longs[i] = ids[i];
        }
        return hf.decode(longs, skipSpecialTokens);
    }
}
