package io.ppsd.runtime.tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * A BPE tokenizer loaded from a Hugging Face {@code tokenizer.json}, in pure Java, producing the
 * same ids as the Rust {@code tokenizers} library for the formats below.
 *
 * <h2>Supported formats</h2>
 * <ul>
 *   <li><b>Model</b>: {@code "type": "BPE"} only, merges as {@code "a b"} strings or {@code ["a",
 *       "b"]} pairs, with {@code byte_fallback}, {@code unk_token}/{@code fuse_unk} and
 *       {@code ignore_merges}. WordPiece, Unigram, WordLevel, dropout, and subword
 *       prefixes/suffixes are rejected at load time.
 *   <li><b>Byte-level BPE</b> (GPT-2, LLaMA-3): pre-tokenizer {@code Sequence[Split(Regex),
 *       ByteLevel(use_regex=false)]} or a plain {@code ByteLevel} with the GPT-2 regex; decoder
 *       {@code ByteLevel}.
 *   <li><b>SentencePiece-style BPE</b> (LLaMA-2, TinyLlama, Mistral): normalizer
 *       {@code Sequence[Prepend("▁"), Replace(" ", "▁")]} or pre-tokenizer {@code Metaspace};
 *       {@code <0xAB>} byte-fallback tokens; decoder {@code Sequence[Replace, ByteFallback, Fuse,
 *       Strip]} or {@code Metaspace}.
 *   <li>Normalizers: Sequence, Prepend, Replace, NFC/NFD/NFKC/NFKD, Lowercase. Pre-tokenizers:
 *       Sequence, Split, ByteLevel, Metaspace, Digits. Decoders: Sequence, ByteLevel, Replace,
 *       ByteFallback, Fuse, Strip, Metaspace. Post-processors: TemplateProcessing, ByteLevel,
 *       Sequence of those, RobertaProcessing, BertProcessing. Anything else fails at load with a
 *       {@link TokenizerFormatException} naming the file and the field.
 * </ul>
 *
 * <h2>Behaviour</h2>
 * Added tokens ({@code added_tokens}, special or not) written in the input text are recognized and
 * become their single id, as HF does by default. {@code encode(text, true)} additionally applies
 * the post-processor's template (e.g. LLaMA-2's leading {@code <s>}); a file without a
 * TemplateProcessing adds nothing, again like HF. Instances are immutable and thread-safe.
 *
 * <p>Pre-tokenization regexes run on {@code java.util.regex} with Unicode character classes, so
 * {@code \p{L}}, {@code \p{N}} and {@code \s} follow the JDK's Unicode tables (Unicode 16 in
 * JDK 25). HF's Oniguruma build ships older tables, and Python's {@code regex} newer ones; the
 * three can split differently only around code points assigned in recent Unicode versions (e.g.
 * Egyptian Hieroglyphs Extended-A), never for text made of characters from Unicode 14 or older.
 */
public final class Tokenizer {
    /** Everything the reader extracts from the file. */
    record Parts(String source, BpeModel model, Map<String, Integer> modelVocab, List<AddedToken> addedTokens,
            TextNormalizer normalizer, PreTokenizer preTokenizer, TokenDecoder decoder,
            int[] templatePrefix, int[] templateSuffix) {}

    private final Parts parts;
    private final String[] pieces;
    private final boolean[] special;
    private final Map<String, Integer> idsByPiece;
    private final AddedTokenMatcher rawMatcher;
    private final AddedTokenMatcher normalizedMatcher;
    private final int bosId;
    private final int eosId;

    Tokenizer(Parts parts) {
        this.parts = parts;
        int size = 0;
        for (int id : parts.modelVocab().values()) {
            size = Math.max(size, id + 1);
        }
        for (AddedToken t : parts.addedTokens()) {
            size = Math.max(size, t.id() + 1);
        }
        pieces = new String[size];
        special = new boolean[size];
        idsByPiece = new java.util.HashMap<>(parts.modelVocab());
        parts.modelVocab().forEach((piece, id) -> pieces[id] = piece);
        List<AddedToken> raw = new ArrayList<>();
        List<AddedToken> normalized = new ArrayList<>();
        for (AddedToken t : parts.addedTokens()) {
            pieces[t.id()] = t.content();
            special[t.id()] = t.special();
            idsByPiece.put(t.content(), t.id());
            (t.normalized() ? normalized : raw).add(t);
        }
        rawMatcher = new AddedTokenMatcher(raw, s -> s);
        // HF matches "normalized" added tokens against the normalized text, using the normalized
        // form of their content.
        TextNormalizer n = parts.normalizer();
        normalizedMatcher = new AddedTokenMatcher(normalized, s -> n == null ? s : n.normalize(s));
        bosId = parts.templatePrefix().length > 0
                ? parts.templatePrefix()[0]
                : firstKnown("<|begin_of_text|>", "<s>", "<|startoftext|>", "<bos>", "<|bos|>");
        eosId = parts.templateSuffix().length > 0
                ? parts.templateSuffix()[parts.templateSuffix().length - 1]
                : firstKnown("<|end_of_text|>", "</s>", "<|endoftext|>", "<eos>", "<|eos|>", "<|eot_id|>");
    }

    private Tokenizer(Tokenizer base, int bosId, int eosId) {
        this.parts = base.parts;
        this.pieces = base.pieces;
        this.special = base.special;
        this.idsByPiece = base.idsByPiece;
        this.rawMatcher = base.rawMatcher;
        this.normalizedMatcher = base.normalizedMatcher;
        this.bosId = bosId;
        this.eosId = eosId;
    }

    private int firstKnown(String... candidates) {
        for (String c : candidates) {
            Integer id = idsByPiece.get(c);
            if (id != null) {
                return id;
            }
        }
        return -1;
    }

    /** Loads a {@code tokenizer.json} file. */
    public static Tokenizer load(Path path) throws IOException {
        try (InputStream in = Files.newInputStream(path)) {
            return fromJson(in, path.toString());
        }
    }

    /**
     * Reads {@code tokenizer.json} content from a stream (not closed), e.g. a decompressed resource.
     *
     * @param sourceName named in error messages, typically the file path
     */
    public static Tokenizer fromJson(InputStream json, String sourceName) throws IOException {
        return new TokenizerJsonReader(sourceName).read(json);
    }

    /** Reads {@code tokenizer.json} content given as a string. */
    public static Tokenizer fromJson(String json, String sourceName) {
        return new TokenizerJsonReader(sourceName).read(json);
    }

    /**
     * Returns a tokenizer identical to this one except for the ids reported by {@link #bosId()}
     * and {@link #eosId()}, e.g. taken from the model's config.json. Encoding is unchanged: which
     * special tokens {@code encode} adds is decided by the file's post-processor.
     */
    public Tokenizer withSpecialTokenIds(int bosId, int eosId) {
        return new Tokenizer(this, bosId, eosId);
    }

    /** Encodes with the post-processor's special tokens, like HF's default. */
    public int[] encode(String text) {
        return encode(text, true);
    }

    /**
     * Encodes {@code text}; added tokens written in it are recognized. With
     * {@code addSpecialTokens}, the post-processor's template (e.g. a leading BOS) is applied.
     */
    public int[] encode(String text, boolean addSpecialTokens) {
        GrowableIntArray out = new GrowableIntArray(text.length() / 3 + 4);
        if (addSpecialTokens) {
            out.addAll(parts.templatePrefix());
        }
        for (AddedTokenMatcher.Segment seg : rawMatcher.split(text)) {
            if (seg.token() != null) {
                out.add(seg.token().id());
                continue;
            }
            String section = text.substring(seg.start(), seg.end());
            String normalized = parts.normalizer() == null ? section : parts.normalizer().normalize(section);
            boolean atStart = seg.start() == 0;
            if (normalizedMatcher.isEmpty()) {
                encodeSection(normalized, atStart, out);
                continue;
            }
            for (AddedTokenMatcher.Segment inner : normalizedMatcher.split(normalized)) {
                if (inner.token() != null) {
                    out.add(inner.token().id());
                } else {
                    encodeSection(normalized.substring(inner.start(), inner.end()), atStart && inner.start() == 0, out);
                }
            }
        }
        if (addSpecialTokens) {
            out.addAll(parts.templateSuffix());
        }
        return out.toArray();
    }

    private void encodeSection(String section, boolean atTextStart, GrowableIntArray out) {
        if (section.isEmpty()) {
            return;
        }
        List<String> words = List.of(section);
        if (parts.preTokenizer() != null) {
            words = parts.preTokenizer().split(words, atTextStart);
        }
        for (String word : words) {
            parts.model().encodeWord(word, out);
        }
    }

    /**
     * Decodes ids to text through the file's decoder. Ids that name no token are ignored, as in
     * HF. {@code decode(encode(s, false), false)} returns {@code s} for any string the normalizer
     * leaves unchanged (apart from the SentencePiece leading space, which decodes away).
     */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        List<String> tokens = new ArrayList<>(ids.length);
        for (int id : ids) {
            if (id < 0 || id >= pieces.length || pieces[id] == null) {
                continue;
            }
            if (skipSpecialTokens && special[id]) {
                continue;
            }
            tokens.add(pieces[id]);
        }
        if (parts.decoder() == null) {
            return String.join(" ", tokens);
        }
        return String.join("", parts.decoder().decodeChain(tokens));
    }

    /** Starts a streaming decoder for generated tokens that omits special tokens. */
    public TokenTextStream newTextStream() {
        return new TokenTextStream(this, true);
    }

    /** Starts a streaming decoder for generated tokens. */
    public TokenTextStream newTextStream(boolean skipSpecialTokens) {
        return new TokenTextStream(this, skipSpecialTokens);
    }

    /** One more than the largest token id (model vocab and added tokens); the embedding rows needed. */
    public int vocabSize() {
        return pieces.length;
    }

    /** The vocabulary string of a token (byte-level alphabet or "▁" form, as stored in the file). */
    public String tokenPiece(int id) {
        if (id < 0 || id >= pieces.length || pieces[id] == null) {
            throw new IllegalArgumentException("token id " + id + " not in vocabulary of " + parts.source());
        }
        return pieces[id];
    }

    /** The id of a vocabulary string or added token, if any. */
    public OptionalInt tokenId(String piece) {
        Integer id = idsByPiece.get(piece);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** Whether {@code id} is an added token flagged {@code special} (skipped by decode on request). */
    public boolean isSpecial(int id) {
        return id >= 0 && id < special.length && special[id];
    }

    /**
     * Beginning-of-sequence id: the first token of the post-processor template, else a well-known
     * added token ({@code <|begin_of_text|>}, {@code <s>}, ...); -1 if none.
     */
    public int bosId() {
        return bosId;
    }

    /**
     * End-of-sequence id: the last token of the post-processor template, else a well-known added
     * token ({@code <|end_of_text|>}, {@code </s>}, ..., {@code <|eot_id|>}); -1 if none. Chat
     * models often stop on several tokens; see {@link #withSpecialTokenIds}.
     */
    public int eosId() {
        return eosId;
    }

    /** The file path or source name this tokenizer was loaded from. */
    public String source() {
        return parts.source();
    }

    @Override
    public String toString() {
        return "Tokenizer[" + parts.source() + ", vocab " + pieces.length + "]";
    }
}
