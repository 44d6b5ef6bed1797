package io.ppsd.benchmarks.peer;

import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.KvBufferCache;
import com.github.tjake.jlama.util.PhysicalCoreExecutor;
import java.nio.file.Path;
import java.util.Optional;
import java.util.UUID;

/**
 * Jlama (github.com/tjake/Jlama) decoding the same safetensors folder: batched prefill, then one
 * token at a time through {@code forward} and greedy {@code sample} — the loop of Jlama's own
 * {@code generate}, minus detokenization and stop tokens, so exactly {@code newTokens} are produced
 * and timed like ours (after the first token).
 */
public final class JlamaDecoder implements AutoCloseable {
    private final AbstractModel model;
    private final KvBufferCache caches;
    private final AbstractTensor logits;

    /** Jlama's thread pool is global: set its size before the first model loads. */
    public static void threads(int threads) {
        PhysicalCoreExecutor.overrideThreadCount(threads);
    }

    public JlamaDecoder(Path modelDir, boolean bf16Weights) {
        // Working (activation) type F32 for both; weights stay as stored (F32 or BF16).
        this.model = ModelSupport.loadModel(modelDir.toFile(), DType.F32, bf16Weights ? DType.BF16 : DType.F32);
        this.caches = new KvBufferCache(model);
        this.logits = model.makeDenseTensor(model.getConfig().vocabularySize);
    }

    /** Generates {@code newTokens} greedily after {@code prompt}; returns decode nanoseconds (after the first token). */
    public long decodeNanos(int[] prompt, int newTokens) {
        var kv = caches.getKvBuffer(UUID.randomUUID());
        AbstractTensor out = model.batchForward(prompt, 0, kv);
        int next;
        try (AbstractTensor last = out.slice(out.shape().first() - 1)) {
            next = model.sample(last, 0f, 0f, logits);
        }
        out.close();
        long t0 = System.nanoTime();
        int pos = prompt.length;
        for (int i = 1; i < newTokens; i++) {
            AbstractTensor o = model.forward(next, pos++, kv, Optional.empty());
            next = model.sample(o, 0f, 0f, logits);
            o.close();
        }
        return System.nanoTime() - t0;
    }

    @Override
    public void close() {
        caches.close();
        model.close();
    }
}
