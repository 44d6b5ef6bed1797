package io.ppsd.actors.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.FatalTemplateErrorsException;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A model's chat template: the Jinja template of {@code tokenizer_config.json}'s
 * {@code chat_template} (a string, or the entry named "default" of a list), rendered as Hugging
 * Face's {@code apply_chat_template} does with {@code messages}, {@code add_generation_prompt},
 * {@code bos_token}, {@code eos_token} and {@code raise_exception}. The rendered text carries the
 * template's own special tokens; it is tokenized like any prompt.
 */
public final class ChatTemplate {
    /** A chat message: role (system, user, assistant, tool) and text content. */
    public record Message(String role, String content) {}

    private final String template;
    private final String bosToken;
    private final String eosToken;
    private final Jinjava jinja;

    ChatTemplate(String template, String bosToken, String eosToken) {
        this.template = template;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.jinja = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(false).withLstripBlocks(false).build());
        jinja.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class, "raise", String.class));
    }

    /** The template of the model in {@code modelDir}, if its {@code tokenizer_config.json} has one. */
    public static Optional<ChatTemplate> of(Path modelDir) {
        Path file = modelDir.resolve("tokenizer_config.json");
        if (!Files.isRegularFile(file)) return Optional.empty();
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readString(file));
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        JsonNode t = root.get("chat_template");
        String template = null;
        if (t != null && t.isTextual()) {
            template = t.asText();
        } else if (t != null && t.isArray()) {
            for (JsonNode entry : t) if ("default".equals(entry.path("name").asText())) template = entry.path("template").asText(null);
        }
        if (template == null || template.isBlank()) return Optional.empty();
        return Optional.of(new ChatTemplate(template, token(root.get("bos_token")), token(root.get("eos_token"))));
    }

    private static String token(JsonNode n) {
        if (n == null || n.isNull()) return "";
        return n.isTextual() ? n.asText() : n.path("content").asText("");
    }

    /** The prompt text for {@code messages}; a template error is the request's fault (a bad role order, say). */
    public String render(List<Message> messages, boolean addGenerationPrompt) {
        Map<String, Object> bindings = new HashMap<>();
        bindings.put("messages", messages.stream().map(m -> Map.of("role", m.role(), "content", m.content())).toList());
        bindings.put("add_generation_prompt", addGenerationPrompt);
        bindings.put("bos_token", bosToken);
        bindings.put("eos_token", eosToken);
        try {
            var result = jinja.renderForResult(template, bindings);
            for (var error : result.getErrors()) {
                if (error.getSeverity().name().equals("FATAL")) throw new IllegalArgumentException("the chat template failed: " + reason(error));
            }
            return result.getOutput();
        } catch (FatalTemplateErrorsException e) {
            throw new IllegalArgumentException("the chat template failed: " + e.getMessage(), e);
        }
    }

    /** The template's own words when it raised them ({@code raise_exception}), else Jinjava's. */
    private static String reason(com.hubspot.jinjava.interpret.TemplateError error) {
        String message = error.getMessage();
        for (Throwable t = error.getException(); t != null; t = t.getCause()) {
            if (t instanceof IllegalArgumentException && t.getMessage() != null) message = t.getMessage();
        }
        return message;
    }

    /** {@code raise_exception(message)} of HF templates: the request is refused with the message. */
    public static String raise(String message) {
        throw new IllegalArgumentException(message);
    }
}
