package io.ppsd.runtime.tokenizer;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Turns the JSON of a {@code tokenizer.json} into a {@link Tokenizer}. Every problem is reported
 * as a {@link TokenizerFormatException} naming the source and the JSON path of the field, e.g.
 * {@code "models/x/tokenizer.json: model.type: unsupported value 'WordPiece' (supported: BPE)"}.
 */
final class TokenizerJsonReader {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final String source;

    TokenizerJsonReader(String source) {
        this.source = source;
    }

    Tokenizer read(InputStream json) throws IOException {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JacksonException e) {
            throw malformed(e);
        }
        return read(root);
    }

    Tokenizer read(String json) {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JacksonException e) {
            throw malformed(e);
        }
        return read(root);
    }

    private TokenizerFormatException malformed(JacksonException e) {
        return new TokenizerFormatException(source, "not valid JSON (" + e.getOriginalMessage() + ")", e);
    }

    private Tokenizer read(JsonNode root) {
        if (root == null || root.isMissingNode() || !root.isObject()) {
            throw fail("(root)", "expected a JSON object (is this a tokenizer.json?)");
        }
        JsonNode model = required(root, "model", "model");
        String modelType = model.has("type") ? text(model, "type", "model.type") : "BPE";
        if (!modelType.equals("BPE")) {
            throw fail("model.type", "unsupported value '" + modelType + "' (supported: BPE)");
        }
        Map<String, Integer> vocab = readVocab(required(model, "vocab", "model.vocab"));
        rejectIfSet(model, "continuing_subword_prefix", "model.continuing_subword_prefix");
        rejectIfSet(model, "end_of_word_suffix", "model.end_of_word_suffix");
        JsonNode dropout = model.get("dropout");
        if (dropout != null && !dropout.isNull() && dropout.asDouble() != 0.0) {
            throw fail("model.dropout", "unsupported value " + dropout + " (BPE dropout is for training)");
        }
        MergeTable merges = readMerges(required(model, "merges", "model.merges"), vocab);
        int unkId = -1;
        JsonNode unk = model.get("unk_token");
        if (unk != null && !unk.isNull()) {
            Integer id = vocab.get(unk.asText());
            if (id == null) {
                throw fail("model.unk_token", "'" + unk.asText() + "' is not in model.vocab");
            }
            unkId = id;
        }
        BpeModel bpe = new BpeModel(vocab, merges, bool(model, "byte_fallback", false), unkId,
                bool(model, "fuse_unk", false), bool(model, "ignore_merges", false));

        List<AddedToken> added = readAddedTokens(root.get("added_tokens"));
        Map<String, Integer> addedIds = new HashMap<>();
        for (AddedToken t : added) {
            addedIds.put(t.content(), t.id());
        }
        TextNormalizer normalizer = readNormalizer(root.get("normalizer"), "normalizer");
        PreTokenizer preTokenizer = readPreTokenizer(root.get("pre_tokenizer"), "pre_tokenizer");
        TokenDecoder decoder = readDecoder(root.get("decoder"), "decoder");
        List<int[]> template = new ArrayList<>(List.of(new int[0], new int[0]));
        readPostProcessor(root.get("post_processor"), "post_processor", vocab, addedIds, template);
        return new Tokenizer(new Tokenizer.Parts(source, bpe, vocab, added, normalizer, preTokenizer, decoder,
                template.get(0), template.get(1)));
    }

    private Map<String, Integer> readVocab(JsonNode node) {
        if (!node.isObject()) {
            throw fail("model.vocab", "expected an object mapping token strings to ids");
        }
        Map<String, Integer> vocab = new HashMap<>(node.size() * 2);
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            if (!e.getValue().canConvertToInt() || e.getValue().asInt() < 0) {
                throw fail("model.vocab[\"" + e.getKey() + "\"]", "expected a non-negative integer id, got " + e.getValue());
            }
            vocab.put(e.getKey(), e.getValue().asInt());
        }
        return vocab;
    }

    private MergeTable readMerges(JsonNode node, Map<String, Integer> vocab) {
        if (!node.isArray()) {
            throw fail("model.merges", "expected an array");
        }
        MergeTable table = new MergeTable(node.size());
        for (int rank = 0; rank < node.size(); rank++) {
            JsonNode m = node.get(rank);
            String where = "model.merges[" + rank + "]";
            String left;
            String right;
            if (m.isTextual()) {
                // Older files: "a b". Tokens cannot contain a plain space (byte-level uses Ġ,
                // SentencePiece uses ▁), so exactly one space separates the two halves.
                String s = m.asText();
                int space = s.indexOf(' ');
                if (space < 0 || s.indexOf(' ', space + 1) >= 0) {
                    throw fail(where, "expected \"left right\" with exactly one space, got \"" + s + "\"");
                }
                left = s.substring(0, space);
                right = s.substring(space + 1);
            } else if (m.isArray() && m.size() == 2 && m.get(0).isTextual() && m.get(1).isTextual()) {
                left = m.get(0).asText();
                right = m.get(1).asText();
            } else {
                throw fail(where, "expected \"left right\" or [\"left\", \"right\"], got " + m);
            }
            Integer l = vocab.get(left);
            Integer r = vocab.get(right);
            Integer merged = vocab.get(left + right);
            if (l == null || r == null || merged == null) {
                String missing = l == null ? left : r == null ? right : left + right;
                throw fail(where, "token '" + missing + "' is not in model.vocab");
            }
            table.put(l, r, rank, merged);
        }
        return table;
    }

    private List<AddedToken> readAddedTokens(JsonNode node) {
        List<AddedToken> out = new ArrayList<>();
        if (node == null || node.isNull()) {
            return out;
        }
        if (!node.isArray()) {
            throw fail("added_tokens", "expected an array");
        }
        for (int i = 0; i < node.size(); i++) {
            JsonNode t = node.get(i);
            String where = "added_tokens[" + i + "]";
            JsonNode id = required(t, "id", where + ".id");
            if (!id.canConvertToInt() || id.asInt() < 0) {
                throw fail(where + ".id", "expected a non-negative integer, got " + id);
            }
            out.add(new AddedToken(id.asInt(), text(t, "content", where + ".content"), bool(t, "special", false),
                    bool(t, "single_word", false), bool(t, "lstrip", false), bool(t, "rstrip", false),
                    bool(t, "normalized", false)));
        }
        return out;
    }

    /** The components of a "Sequence" node, each read by {@code reader} with its own path for errors. */
    private <T> List<T> steps(JsonNode node, String key, String where, java.util.function.BiFunction<JsonNode, String, T> reader) {
        List<T> steps = new ArrayList<>();
        JsonNode list = array(node, key, where);
        for (int i = 0; i < list.size(); i++) steps.add(reader.apply(list.get(i), where + "." + key + "[" + i + "]"));
        return steps;
    }

    private TextNormalizer readNormalizer(JsonNode node, String where) {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = type(node, where);
        return switch (type) {
            case "Sequence" -> new TextNormalizer.Sequence(steps(node, "normalizers", where, this::readNormalizer));
            case "Prepend" -> new TextNormalizer.Prepend(text(node, "prepend", where + ".prepend"));
            case "Replace" -> new TextNormalizer.Replace(pattern(node, where), text(node, "content", where + ".content"));
            case "NFC" -> new TextNormalizer.UnicodeForm(Normalizer.Form.NFC);
            case "NFD" -> new TextNormalizer.UnicodeForm(Normalizer.Form.NFD);
            case "NFKC" -> new TextNormalizer.UnicodeForm(Normalizer.Form.NFKC);
            case "NFKD" -> new TextNormalizer.UnicodeForm(Normalizer.Form.NFKD);
            case "Lowercase" -> new TextNormalizer.Lowercase();
            default -> throw unsupported(where + ".type", type,
                    "Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase");
        };
    }

    private PreTokenizer readPreTokenizer(JsonNode node, String where) {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = type(node, where);
        return switch (type) {
            case "Sequence" -> new PreTokenizer.Sequence(steps(node, "pretokenizers", where, this::readPreTokenizer));
            case "Split" -> {
                String behavior = text(node, "behavior", where + ".behavior");
                PreTokenizer.Behavior b = switch (behavior) {
                    case "Isolated" -> PreTokenizer.Behavior.ISOLATED;
                    case "Removed" -> PreTokenizer.Behavior.REMOVED;
                    case "MergedWithPrevious" -> PreTokenizer.Behavior.MERGED_WITH_PREVIOUS;
                    case "MergedWithNext" -> PreTokenizer.Behavior.MERGED_WITH_NEXT;
                    case "Contiguous" -> PreTokenizer.Behavior.CONTIGUOUS;
                    default -> throw unsupported(where + ".behavior", behavior,
                            "Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous");
                };
                yield new PreTokenizer.Split(pattern(node, where), b, bool(node, "invert", false));
            }
            case "ByteLevel" -> new PreTokenizer.ByteLevel(bool(node, "add_prefix_space", true),
                    bool(node, "use_regex", true) ? PreTokenizer.compileRegex(PreTokenizer.GPT2_REGEX) : null);
            case "Metaspace" -> new PreTokenizer.Metaspace(replacement(node, where), prependScheme(node, where),
                    bool(node, "split", true));
            case "Digits" -> new PreTokenizer.Split(
                    PreTokenizer.compileRegex(bool(node, "individual_digits", false) ? "\\p{N}" : "\\p{N}+"),
                    PreTokenizer.Behavior.ISOLATED, false);
            default -> throw unsupported(where + ".type", type, "Sequence, Split, ByteLevel, Metaspace, Digits");
        };
    }

    private TokenDecoder readDecoder(JsonNode node, String where) {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = type(node, where);
        return switch (type) {
            case "Sequence" -> new TokenDecoder.Sequence(steps(node, "decoders", where, this::readDecoder));
            case "ByteLevel" -> new TokenDecoder.ByteLevel();
            case "Replace" -> new TokenDecoder.Replace(pattern(node, where), text(node, "content", where + ".content"));
            case "ByteFallback" -> new TokenDecoder.ByteFallback();
            case "Fuse" -> new TokenDecoder.Fuse();
            case "Strip" -> {
                String content = text(node, "content", where + ".content");
                if (content.codePointCount(0, content.length()) != 1) {
                    throw fail(where + ".content", "expected a single character, got '" + content + "'");
                }
                yield new TokenDecoder.Strip(content.codePointAt(0), integer(node, "start", where), integer(node, "stop", where));
            }
            case "Metaspace" -> new TokenDecoder.Metaspace(replacement(node, where),
                    !prependScheme(node, where).equals("never"));
            default -> throw unsupported(where + ".type", type,
                    "Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace");
        };
    }

    /** Collects the single-sequence template into {@code template} (prefix ids, suffix ids). */
    private void readPostProcessor(JsonNode node, String where, Map<String, Integer> vocab,
            Map<String, Integer> addedIds, List<int[]> template) {
        if (node == null || node.isNull()) {
            return;
        }
        String type = type(node, where);
        switch (type) {
            case "ByteLevel" -> { } // only adjusts offsets, never ids
            case "Sequence" -> {
                JsonNode list = array(node, "processors", where);
                for (int i = 0; i < list.size(); i++) {
                    readPostProcessor(list.get(i), where + ".processors[" + i + "]", vocab, addedIds, template);
                }
            }
            case "TemplateProcessing" -> readTemplate(node, where, template);
            case "RobertaProcessing", "BertProcessing" -> {
                // Both wrap a single sequence as CLS ... SEP, given as ["token", id] pairs.
                template.set(0, new int[] {pairId(node, "cls", where)});
                template.set(1, new int[] {pairId(node, "sep", where)});
            }
            default -> throw unsupported(where + ".type", type,
                    "TemplateProcessing, ByteLevel, Sequence, RobertaProcessing, BertProcessing");
        }
    }

    private void readTemplate(JsonNode node, String where, List<int[]> template) {
        JsonNode single = array(node, "single", where);
        JsonNode specials = node.get("special_tokens");
        List<Integer> prefix = new ArrayList<>();
        List<Integer> suffix = new ArrayList<>();
        boolean seenSequence = false;
        for (int i = 0; i < single.size(); i++) {
            JsonNode piece = single.get(i);
            String pw = where + ".single[" + i + "]";
            if (piece.has("Sequence")) {
                if (seenSequence) {
                    throw fail(pw, "the single-sequence template names the sequence twice");
                }
                seenSequence = true;
            } else if (piece.has("SpecialToken")) {
                String name = text(piece.get("SpecialToken"), "id", pw + ".SpecialToken.id");
                JsonNode entry = specials == null ? null : specials.get(name);
                if (entry == null || !entry.has("ids") || !entry.get("ids").isArray()) {
                    throw fail(where + ".special_tokens", "no ids for special token '" + name + "' used in " + pw);
                }
                for (JsonNode id : entry.get("ids")) {
                    (seenSequence ? suffix : prefix).add(id.asInt());
                }
            } else {
                throw fail(pw, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}, got " + piece);
            }
        }
        if (!seenSequence) {
            throw fail(where + ".single", "template does not contain the sequence $A");
        }
        template.set(0, prefix.stream().mapToInt(Integer::intValue).toArray());
        template.set(1, suffix.stream().mapToInt(Integer::intValue).toArray());
    }

    private int pairId(JsonNode node, String field, String where) {
        JsonNode pair = required(node, field, where + "." + field);
        if (!pair.isArray() || pair.size() != 2 || !pair.get(1).canConvertToInt()) {
            throw fail(where + "." + field, "expected [\"token\", id], got " + pair);
        }
        return pair.get(1).asInt();
    }

    private Pattern pattern(JsonNode node, String where) {
        JsonNode p = required(node, "pattern", where + ".pattern");
        try {
            if (p.has("String")) {
                return Pattern.compile(Pattern.quote(p.get("String").asText()));
            }
            if (p.has("Regex")) {
                return PreTokenizer.compileRegex(p.get("Regex").asText());
            }
        } catch (PatternSyntaxException e) {
            throw fail(where + ".pattern.Regex", "regex not supported by java.util.regex: " + e.getDescription());
        }
        throw fail(where + ".pattern", "expected {\"String\": ...} or {\"Regex\": ...}, got " + p);
    }

    private char replacement(JsonNode node, String where) {
        String r = node.has("replacement") ? text(node, "replacement", where + ".replacement") : "\u2581";
        if (r.length() != 1) {
            throw fail(where + ".replacement", "expected a single BMP character, got '" + r + "'");
        }
        return r.charAt(0);
    }

    /** Newer files say prepend_scheme; older ones add_prefix_space (true meant "always"). */
    private String prependScheme(JsonNode node, String where) {
        if (node.has("prepend_scheme")) {
            String s = text(node, "prepend_scheme", where + ".prepend_scheme");
            if (!s.equals("always") && !s.equals("first") && !s.equals("never")) {
                throw unsupported(where + ".prepend_scheme", s, "always, first, never");
            }
            return s;
        }
        return bool(node, "add_prefix_space", true) ? "always" : "never";
    }

    private String type(JsonNode node, String where) {
        if (!node.isObject()) {
            throw fail(where, "expected an object, got " + node);
        }
        return text(node, "type", where + ".type");
    }

    private JsonNode required(JsonNode node, String field, String where) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            throw fail(where, "missing required field");
        }
        return v;
    }

    private JsonNode array(JsonNode node, String field, String where) {
        JsonNode v = required(node, field, where + "." + field);
        if (!v.isArray()) {
            throw fail(where + "." + field, "expected an array");
        }
        return v;
    }

    private String text(JsonNode node, String field, String where) {
        JsonNode v = required(node, field, where);
        if (!v.isTextual()) {
            throw fail(where, "expected a string, got " + v);
        }
        return v.asText();
    }

    private int integer(JsonNode node, String field, String where) {
        JsonNode v = required(node, field, where + "." + field);
        if (!v.canConvertToInt()) {
            throw fail(where + "." + field, "expected an integer, got " + v);
        }
        return v.asInt();
    }

    private boolean bool(JsonNode node, String field, boolean fallback) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? fallback : v.asBoolean();
    }

    private void rejectIfSet(JsonNode node, String field, String where) {
        JsonNode v = node.get(field);
        if (v != null && !v.isNull() && !v.asText().isEmpty()) {
            throw fail(where, "unsupported (value " + v + "); only plain BPE without subword prefixes/suffixes is implemented");
        }
    }

    private TokenizerFormatException unsupported(String where, String value, String supported) {
        return fail(where, "unsupported value '" + value + "' (supported: " + supported + ")");
    }

    private TokenizerFormatException fail(String where, String detail) {
        return new TokenizerFormatException(source, where + ": " + detail);
    }
}
