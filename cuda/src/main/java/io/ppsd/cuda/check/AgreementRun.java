package io.ppsd.cuda.check;

import io.ppsd.cuda.KvDtype;
import io.ppsd.runtime.decode.Sampler;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.StageSpec;
import java.nio.file.Path;

/**
 * The core of the CUDA-vs-CPU agreement: one whole-model stage on both backends through batched
 * prefill (longer than a batch), decode, multi-token verification, a second sequence in between,
 * rollback and recompute, and the cache rule (a replayed position is refused). Every hidden state
 * and logits block is compared ({@link BackendPair}); greedy tokens must agree wherever the CPU's
 * margin is clear. Used by {@code CudaMatchesCpuTest} on the emulated driver and by
 * {@link DeviceCheck} on a real GPU: the same scenario in both places.
 */
public final class AgreementRun {
    private AgreementRun() {}

    /** Runs the scenario on {@code checkpoint} written under {@code dir}; returns the worst relative difference seen. */
    public static double wholeModel(RandomCheckpoint checkpoint, KvDtype kv, Path dir) {
        try (ModelFiles files = ModelFiles.open(checkpoint.write(dir, 2));
             var pair = new BackendPair(files, StageSpec.whole(checkpoint.layers()), 32, kv)) {
            int vocab = checkpoint.vocab(), dim = checkpoint.hidden();
            long seq = 1;
            int[] prompt = checkpoint.prompt(5, 40);  // more than one batch of 32: two chunks

            float[][] hidden = pair.embed(prompt, 0, prompt.length);
            check(pair.maxDifference(hidden, prompt.length * dim) == 0, "embedding rows are copied exactly");
            pair.forward(seq, 0, prompt.length, hidden);
            float[][] logits = pair.logits(hidden, prompt.length);
            check(pair.agreement.assertSameGreedy("prefill", logits[0], logits[1], prompt.length, vocab) > prompt.length / 2,
                    "most prefill rows have a clear greedy token");

            int pos = prompt.length;
            int next = Sampler.argmax(logits[0], (prompt.length - 1) * vocab, vocab);
            for (int step = 0; step < 6; step++, pos++) {  // decode: one position at a time (GEMV path)
                float[][] h = pair.embed(new int[] {next}, 0, 1);
                pair.forward(seq, pos, 1, h);
                float[][] l = pair.logits(h, 1);
                pair.agreement.assertSameGreedy("decode step " + step, l[0], l[1], 1, vocab);
                next = Sampler.argmax(l[0], 0, vocab);
            }

            int[] draft = checkpoint.prompt(6, 5);  // verification: five positions in one batch (multi-token GEMV)
            float[][] h = pair.embed(draft, 0, draft.length);
            pair.forward(seq, pos, draft.length, h);
            float[][] l = pair.logits(h, draft.length);
            pair.agreement.assertSameGreedy("verification", l[0], l[1], draft.length, vocab);
            pos += draft.length;

            // A second sequence in between must not disturb the first one's cache.
            int[] other = checkpoint.prompt(7, 12);
            float[][] o = pair.embed(other, 0, other.length);
            pair.forward(2, 0, other.length, o);
            pair.logits(o, other.length);

            // Rollback: drop the last three positions, recompute them with other tokens.
            pair.truncate(seq, pos - 3);
            check(pair.cuda.length(seq) == pos - 3, "truncate leaves " + (pos - 3) + " positions");
            int[] redo = checkpoint.prompt(8, 3);
            h = pair.embed(redo, 0, redo.length);
            pair.forward(seq, pos - 3, redo.length, h);
            l = pair.logits(h, redo.length);
            pair.agreement.assertSameGreedy("after rollback", l[0], l[1], redo.length, vocab);
            check(pair.cuda.length(seq) == pos, "the recomputed positions are cached");

            // The cache must hold exactly startPos positions: replaying a position is an error.
            boolean refused = false;
            try {
                pair.cuda.forward(seq, pos - 1, 1, new float[dim]);
            } catch (IllegalStateException expected) {
                refused = true;
            }
            check(refused, "a replayed position is refused");

            pair.release(seq);
            check(pair.cuda.length(seq) == 0, "release empties the sequence");
            return pair.worst;
        }
    }

    private static void check(boolean condition, String what) {
        if (!condition) throw new AssertionError(what);
    }
}
