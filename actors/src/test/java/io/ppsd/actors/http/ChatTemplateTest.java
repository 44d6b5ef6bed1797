package io.ppsd.actors.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The model's chat template rendered as Hugging Face's apply_chat_template does, and its absence reported. */
class ChatTemplateTest {
    @TempDir
    Path tmp;

    @Test
    void theShippedTemplateRendersTheConversationWithTheGenerationPrompt() {
        var template = ChatTemplate.of(Path.of("../models/ppsd-mini")).orElseThrow();
        var messages = List.of(new ChatTemplate.Message("system", "Be brief."), new ChatTemplate.Message("user", "Hello"),
                new ChatTemplate.Message("assistant", "Hi."), new ChatTemplate.Message("user", "More?"));
        assertEquals("<|bos|>Be brief.\n\nUser: Hello\nAssistant: Hi.<|eos|>\nUser: More?\nAssistant:", template.render(messages, true));
        assertEquals("<|bos|>User: More?\n", template.render(List.of(new ChatTemplate.Message("user", "More?")), false));
        var e = assertThrows(IllegalArgumentException.class, () -> template.render(List.of(new ChatTemplate.Message("robot", "x")), true));
        assertTrue(e.getMessage().contains("unknown role robot"), e.getMessage());
    }

    @Test
    void aModelWithoutATemplateHasNone() throws Exception {
        assertTrue(ChatTemplate.of(tmp).isEmpty(), "no tokenizer_config.json");
        Files.writeString(tmp.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\"}");
        assertTrue(ChatTemplate.of(tmp).isEmpty(), "no chat_template");
        Files.writeString(tmp.resolve("tokenizer_config.json"), "{\"chat_template\": [{\"name\": \"default\", \"template\": \"{{ messages[0]['content'] }}!\"}],"
                + " \"eos_token\": {\"content\": \"</s>\"}}");
        assertEquals("hey!", ChatTemplate.of(tmp).orElseThrow().render(List.of(new ChatTemplate.Message("user", "hey")), true), "the list form");
        Files.writeString(tmp.resolve("tokenizer_config.json"), "{ not json");
        assertThrows(IllegalArgumentException.class, () -> ChatTemplate.of(tmp));
    }
}
