package io.ppsd.runtime.tokenizer;

import io.ppsd.runtime.model.ModelConfig;

/**
 * Turns prompt text into the token ids a model expects, and names the ids that end its output:
 * the tokenizer's own template, then the config's BOS in front when the model declares one and
 * the template did not add it (LLaMA models are trained with it); end of sequence from the
 * config, else the tokenizer's. Every front end (command line, gateway, benchmarks) encodes
 * through this, so the same text gives the same ids everywhere.
 */
public record PromptEncoder(Tokenizer tokenizer, int bosId, int[] stopTokenIds) {

    public PromptEncoder {
        stopTokenIds = stopTokenIds.clone();
    }

    /** From {@code config.json} alone: its end-of-sequence ids, else the tokenizer's. */
    public static PromptEncoder of(Tokenizer tokenizer, ModelConfig config) {
        return of(tokenizer, config, new int[0]);
    }

    /**
     * With the model directory's {@code generation_config.json} too: every id of its
     * {@code eos_token_id} (int or list) also ends the output, as Hugging Face's generate does (a
     * LLaMA-3 instruct model ends its turns with {@code <|eot_id|>}, named only there).
     */
    public static PromptEncoder of(Tokenizer tokenizer, ModelConfig config, java.nio.file.Path modelDir) {
        return of(tokenizer, config, GenerationConfig.eosTokenIds(modelDir, config.vocabSize()));
    }

    private static PromptEncoder of(Tokenizer tokenizer, ModelConfig config, int[] extraStops) {
        int[] eos = config.eosTokenIds();
        if (eos.length == 0 && tokenizer.eosId() >= 0) {
            if (tokenizer.eosId() >= config.vocabSize()) {
                throw new IllegalArgumentException("tokenizer.json's end-of-sequence token " + tokenizer.eosId() + " is outside the model's vocabulary [0, "
                        + config.vocabSize() + ") of config.json: the tokenizer does not belong to this model");
            }
            eos = new int[] {tokenizer.eosId()};
        }
        int[] all = java.util.stream.IntStream.concat(java.util.Arrays.stream(eos), java.util.Arrays.stream(extraStops)).distinct().toArray();
        return new PromptEncoder(tokenizer, config.bosTokenId(), all);
    }

    /** The prompt's token ids, BOS first when the model has one. */
    public int[] encode(String text) {
        int[] ids = tokenizer.encode(text, true);
        if (bosId >= 0 && (ids.length == 0 || ids[0] != bosId)) {
            int[] withBos = new int[ids.length + 1];
            withBos[0] = bosId;
            System.arraycopy(ids, 0, withBos, 1, ids.length);
            return withBos;
        }
        return ids;
    }

    @Override
    public int[] stopTokenIds() {
        return stopTokenIds.clone();
    }
}
