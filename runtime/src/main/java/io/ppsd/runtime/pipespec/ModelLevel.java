package io.ppsd.runtime.pipespec;

import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.stage.StageExecutor;
import java.util.List;

/**
 * One model of a PipeSpec hierarchy, run as one unit: its stages in order (one stage holding the
 * whole model, or several, each on its own device), the first with the embedding, the last with
 * the LM head. Every model of a hierarchy shares the target's tokenizer, so token ids pass
 * between levels unchanged.
 */
public record ModelLevel(String name, List<StageExecutor> stages) {

    public ModelLevel {
        stages = List.copyOf(stages);
        if (stages.isEmpty()) throw new IllegalArgumentException("a model level needs at least one stage");
        if (!stages.getFirst().spec().embedding()) throw new IllegalArgumentException(name + ": the first stage must hold the embedding");
        if (!stages.getLast().spec().lmHead()) throw new IllegalArgumentException(name + ": the last stage must hold the LM head");
    }

    /** Refuses draft models whose vocabulary is not the target's (the levels of a hierarchy share its tokenizer). */
    public static void requireTargetVocabulary(List<ModelLevel> drafts, ModelConfig target) {
        for (ModelLevel l : drafts) {
            if (l.config().vocabSize() != target.vocabSize()) {
                throw new IllegalArgumentException("draft model " + l.name() + " has a vocabulary of " + l.config().vocabSize()
                        + " tokens, the target " + target.vocabSize() + ": the levels of a hierarchy must share the target's tokenizer");
            }
        }
    }

    public ModelConfig config() {
        return stages.getFirst().config();
    }

    /**
     * Runs {@code n} tokens at positions {@code startPos ..} through every stage (their KV entries
     * are appended) and writes the logits of every row to {@code logits} (n × vocab), or none when
     * it is null (prefill). {@code hidden} is scratch of at least n × hidden size floats.
     */
    public void run(long seq, int startPos, int[] tokens, int off, int n, float[] hidden, float[] logits) {
        stages.getFirst().embed(tokens, off, n, hidden);
        for (StageExecutor s : stages) s.forward(seq, startPos, n, hidden);
        if (logits != null) stages.getLast().logits(hidden, n, logits);
    }

    /** Positions held in the KV caches of the sequence (the same on every stage). */
    public int length(long seq) {
        return stages.getFirst().length(seq);
    }

    public void truncate(long seq, int length) {
        for (StageExecutor s : stages) s.truncate(seq, Math.min(length, s.length(seq)));
    }

    public void admit(long seq, int maxPositions) {
        for (StageExecutor s : stages) s.admit(seq, maxPositions);
    }

    public void release(long seq) {
        for (StageExecutor s : stages) s.release(seq);
    }
}
