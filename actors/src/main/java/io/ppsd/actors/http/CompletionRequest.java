package io.ppsd.actors.http;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * One {@code /v1/completions} or {@code /v1/chat/completions} request, read from OpenAI's JSON
 * shape and checked: the prompt (text, or token ids) or the chat messages, the budget
 * ({@code max_tokens}, or {@code max_completion_tokens} for chat), sampling ({@code temperature},
 * default 1 as in OpenAI's API; {@code top_p}; {@code seed}, random when absent), {@code stop},
 * {@code stream} with {@code stream_options.include_usage}, and {@code n} = 1 only. vLLM's extras
 * {@code top_k}, {@code repetition_penalty}, {@code ignore_eos} and {@code stop_token_ids} are
 * honoured too. Anything this server cannot do as asked is refused clearly, never ignored.
 */
record CompletionRequest(boolean chat, String model, String prompt, int[] promptTokenIds, List<ChatTemplate.Message> messages,
                         Integer maxTokens, float temperature, float topP, int topK, float repetitionPenalty, long seed,
                         List<String> stop, int[] stopTokenIds, boolean ignoreEos, boolean stream, boolean includeUsage) {

    /** Options whose non-default values this server does not implement. */
    private static final Set<String> UNSUPPORTED = Set.of("logprobs", "top_logprobs", "echo", "best_of", "suffix", "tools", "functions",
            "response_format", "logit_bias");

    static CompletionRequest parse(JsonNode body, boolean chat) {
        if (body == null || !body.isObject()) throw new IllegalArgumentException("the request body must be a JSON object");
        for (String key : UNSUPPORTED) {
            JsonNode v = body.get(key);
            if (v != null && !v.isNull() && !(v.isBoolean() && !v.asBoolean()) && !(v.isArray() && v.isEmpty())) {
                throw new IllegalArgumentException("'" + key + "' is not supported by this server");
            }
        }
        String model = body.hasNonNull("model") ? text(body, "model") : null;
        int n = body.hasNonNull("n") ? integer(body, "n") : 1;
        if (n != 1) throw new IllegalArgumentException("'n' must be 1 (this server returns one choice per request), got " + n);
        String prompt = null;
        int[] ids = null;
        List<ChatTemplate.Message> messages = null;
        if (chat) {
            messages = messages(body.get("messages"));
        } else {
            JsonNode p = body.get("prompt");
            if (p == null || p.isNull()) throw new IllegalArgumentException("'prompt' is required");
            if (p.isTextual()) {
                prompt = p.asText();
            } else if (p.isArray() && p.size() == 1 && p.get(0).isTextual()) {
                prompt = p.get(0).asText();
            } else if (p.isArray() && !p.isEmpty() && p.get(0).isIntegralNumber()) {
                ids = ints(p, "prompt");
            } else if (p.isArray() && p.size() == 1 && p.get(0).isArray()) {
                ids = ints(p.get(0), "prompt");
            } else {
                throw new IllegalArgumentException("'prompt' must be a string or a list of token ids (one prompt per request)");
            }
        }
        Integer maxTokens = null;
        if (chat && body.hasNonNull("max_completion_tokens")) maxTokens = integer(body, "max_completion_tokens");
        else if (body.hasNonNull("max_tokens")) maxTokens = integer(body, "max_tokens");
        else if (!chat) maxTokens = 16; // the legacy completions API's default
        if (maxTokens != null && maxTokens < 1) throw new IllegalArgumentException("'max_tokens' must be ≥ 1, got " + maxTokens);
        float temperature = body.hasNonNull("temperature") ? number(body, "temperature") : 1f;
        if (!(temperature >= 0 && temperature <= 2)) throw new IllegalArgumentException("'temperature' must be in [0, 2], got " + temperature);
        float topP = body.hasNonNull("top_p") ? number(body, "top_p") : 1f;
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("'top_p' must be in (0, 1], got " + topP);
        int topK = body.hasNonNull("top_k") ? integer(body, "top_k") : 0;
        if (topK < -1) throw new IllegalArgumentException("'top_k' must be ≥ -1, got " + topK);
        float penalty = body.hasNonNull("repetition_penalty") ? number(body, "repetition_penalty") : 1f;
        if (!(penalty > 0)) throw new IllegalArgumentException("'repetition_penalty' must be > 0, got " + penalty);
        long seed = body.hasNonNull("seed") ? longValue(body, "seed") : ThreadLocalRandom.current().nextLong();
        List<String> stop = new ArrayList<>();
        JsonNode s = body.get("stop");
        if (s != null && !s.isNull()) {
            if (s.isTextual()) stop.add(s.asText());
            else if (s.isArray()) s.forEach(x -> {
                if (!x.isTextual()) throw new IllegalArgumentException("'stop' must be a string or a list of strings");
                stop.add(x.asText());
            });
            else throw new IllegalArgumentException("'stop' must be a string or a list of strings");
        }
        if (stop.stream().anyMatch(String::isEmpty)) throw new IllegalArgumentException("'stop' strings must not be empty");
        int[] stopIds = body.hasNonNull("stop_token_ids") ? ints(body.get("stop_token_ids"), "stop_token_ids") : new int[0];
        boolean ignoreEos = body.hasNonNull("ignore_eos") && bool(body, "ignore_eos");
        boolean stream = body.hasNonNull("stream") && bool(body, "stream");
        JsonNode so = body.get("stream_options");
        boolean includeUsage = so != null && so.isObject() && so.path("include_usage").asBoolean(false);
        if (so != null && !so.isNull() && !stream) throw new IllegalArgumentException("'stream_options' is only allowed with 'stream': true");
        return new CompletionRequest(chat, model, prompt, ids, messages, maxTokens, temperature, topP, topK == -1 ? 0 : topK, penalty, seed,
                List.copyOf(stop), stopIds, ignoreEos, stream, includeUsage);
    }

    private static List<ChatTemplate.Message> messages(JsonNode m) {
        if (m == null || !m.isArray() || m.isEmpty()) throw new IllegalArgumentException("'messages' must be a non-empty list");
        List<ChatTemplate.Message> out = new ArrayList<>();
        for (JsonNode x : m) {
            if (!x.isObject() || !x.path("role").isTextual()) throw new IllegalArgumentException("every message needs a 'role'");
            JsonNode c = x.get("content");
            String content;
            if (c == null || c.isNull()) content = "";
            else if (c.isTextual()) content = c.asText();
            else if (c.isArray()) {
                // The content-parts form: only text parts can be served by a text model.
                StringBuilder b = new StringBuilder();
                for (JsonNode part : c) {
                    if (!"text".equals(part.path("type").asText())) throw new IllegalArgumentException("only text content parts are supported");
                    b.append(part.path("text").asText());
                }
                content = b.toString();
            } else throw new IllegalArgumentException("message 'content' must be a string or a list of text parts");
            out.add(new ChatTemplate.Message(x.get("role").asText(), content));
        }
        return out;
    }

    private static String text(JsonNode body, String key) {
        JsonNode v = body.get(key);
        if (!v.isTextual()) throw new IllegalArgumentException("'" + key + "' must be a string");
        return v.asText();
    }

    private static int integer(JsonNode body, String key) {
        JsonNode v = body.get(key);
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw new IllegalArgumentException("'" + key + "' must be an integer, got " + v);
        return v.asInt();
    }

    private static long longValue(JsonNode body, String key) {
        JsonNode v = body.get(key);
        if (!v.isIntegralNumber() || !v.canConvertToLong()) throw new IllegalArgumentException("'" + key + "' must be an integer, got " + v);
        return v.asLong();
    }

    private static float number(JsonNode body, String key) {
        JsonNode v = body.get(key);
        if (!v.isNumber()) throw new IllegalArgumentException("'" + key + "' must be a number, got " + v);
        return (float) v.asDouble();
    }

    private static boolean bool(JsonNode body, String key) {
        JsonNode v = body.get(key);
        if (!v.isBoolean()) throw new IllegalArgumentException("'" + key + "' must be true or false, got " + v);
        return v.asBoolean();
    }

    private static int[] ints(JsonNode array, String key) {
        if (!array.isArray()) throw new IllegalArgumentException("'" + key + "' must be a list of token ids");
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode x = array.get(i);
            if (!x.isIntegralNumber() || !x.canConvertToInt()) throw new IllegalArgumentException("'" + key + "' must be a list of token ids");
            ids[i] = x.asInt();
        }
        return ids;
    }
}
