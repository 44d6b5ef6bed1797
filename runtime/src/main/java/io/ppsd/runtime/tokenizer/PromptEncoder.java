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

    public static PromptEncoder of(Tokenizer tokenizer, ModelConfig config) {
        int eos = config.eosTokenId() >= 0 ? config.eosTokenId() : tokenizer.eosId();
        return new PromptEncoder(tokenizer, config.bosTokenId(), eos >= 0 ? new int[] {eos} : new int[0]);
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
