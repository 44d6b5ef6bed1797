package io.ppsd.runtime.stage;

import io.ppsd.runtime.model.ModelConfig;

/**
 * The seam between decoding algorithms and hardware: one pipeline stage on one device, owning the
 * weights of its layers and the KV caches of the sequences it serves.
 *
 * <p>Hidden states are row-major {@code float[]} of {@code n × hiddenSize}, one row per position.
 * The KV cache of a sequence must hold exactly {@code startPos} positions when {@link #forward} is
 * called: to recompute positions, {@link #truncate} first. This makes a rollback explicit, and a
 * message processed twice an error rather than silent corruption.
 *
 * <p>An executor is used by one thread at a time (its stage's); it may use several cores inside.
 */
public interface StageExecutor extends AutoCloseable {

    StageSpec spec();

    ModelConfig config();

    /** Runs this stage's layers for positions [startPos, startPos + n) of {@code seq}, in place. */
    void forward(long seq, int startPos, int n, float[] hidden);

    /**
     * Runs this stage's layers for every segment of {@code batch} in one call, in place on
     * {@code hidden} (rows in segment order): the same numbers as one {@link #forward(long, int, int,
     * float[])} per segment, each under the same rule that its cache holds exactly its start
     * position. Backends that batch read each weight once for all rows; this default makes one
     * call per segment.
     */
    default void forward(StageBatch batch, float[] hidden) {
        int dim = config().hiddenSize();
        for (int i = 0; i < batch.size(); i++) {
            int n = batch.rows(i), off = batch.rowOffset(i) * dim;
            float[] rows = off == 0 ? hidden : java.util.Arrays.copyOfRange(hidden, off, off + n * dim);
            forward(batch.seq(i), batch.start(i), n, rows);
            if (rows != hidden) System.arraycopy(rows, 0, hidden, off, n * dim);
        }
    }

    /**
     * Reserves KV-cache memory for a sequence that will hold at most {@code maxPositions}
     * positions, before its first call; throws {@link KvBudget.Exceeded} with the reason when the
     * device cannot hold it now. (Calls for a sequence never admitted reserve as they grow.)
     */
    default void admit(long seq, int maxPositions) {}

    /**
     * Reserves in the budget alone, from any thread (the stage's own thread may be computing):
     * {@link #admit} for a sequence this stage has not seen yet then finds the blocks reserved.
     * Throws {@link KvBudget.Exceeded} when they do not fit; {@link #cancelReservation} undoes it.
     */
    default void reserveAhead(long seq, int maxPositions) {}

    /** Undoes {@link #reserveAhead} for a sequence this stage never started; any thread. */
    default void cancelReservation(long seq) {}

    /**
     * {@link #draft} for every segment of a batch at once: the exit head sees each segment's rows
     * of {@code hidden} (laid out as for {@link #forward(StageBatch, float[])}, not modified) and
     * writes the logits of each segment's last row to {@code logits} at segment × vocabulary. This
     * default drafts segment by segment; {@link LayerStackExecutor} (CPU, CUDA) reads the head's
     * weights once per compute call for all segments, and a simulated device prices it as one call.
     */
    default void draft(StageBatch batch, float[] hidden, float[] logits) {
        int dim = config().hiddenSize(), vocab = config().vocabSize();
        float[] one = new float[vocab];
        for (int i = 0; i < batch.size(); i++) {
            int off = batch.rowOffset(i) * dim, n = batch.rows(i);
            draft(batch.seq(i), batch.start(i), n, java.util.Arrays.copyOfRange(hidden, off, off + n * dim), one);
            System.arraycopy(one, 0, logits, i * vocab, vocab);
        }
    }

    /**
     * {@link #draft(StageBatch, float[], float[])} when only each segment's greedy draft is wanted:
     * {@code tokens[i]} = the argmax of the head's logits of segment i's last row (ties to the lower
     * id), and a {@link io.ppsd.runtime.decode.Sampler.NonFiniteLogitsException} for a NaN or +∞
     * chosen. A device picks them where the logits are and sends back only the ids.
     */
    default void draftGreedy(StageBatch batch, float[] hidden, int[] tokens) {
        int vocab = config().vocabSize();
        float[] logits = new float[batch.size() * vocab];
        draft(batch, hidden, logits);
        for (int i = 0; i < batch.size(); i++) tokens[i] = io.ppsd.runtime.decode.Sampler.greedy(logits, i * vocab, vocab);
    }

    /** Embeds n tokens into {@code hidden} rows 0..n-1; only on a stage with the embedding. */
    void embed(int[] tokens, int off, int n, float[] hidden);

    /**
     * Embeds every segment's rows of {@code batch}: segment i's tokens are {@code tokensOf.apply(seq)}
     * at positions [start, start + rows), into its rows of {@code hidden} (laid out as for {@link
     * #forward(StageBatch, float[])}).
     */
    default void embed(StageBatch batch, java.util.function.LongFunction<int[]> tokensOf, float[] hidden) {
        int dim = config().hiddenSize(), most = 0;
        for (int i = 0; i < batch.size(); i++) most = Math.max(most, batch.rows(i));
        float[] rows = new float[most * dim];
        for (int i = 0; i < batch.size(); i++) {
            embed(tokensOf.apply(batch.seq(i)), batch.start(i), batch.rows(i), rows);
            System.arraycopy(rows, 0, hidden, batch.rowOffset(i) * dim, batch.rows(i) * dim);
        }
    }

    /**
     * A drafting stage 0's whole call for rows that draft greedily: {@link #embed(StageBatch,
     * java.util.function.LongFunction, float[])}, {@link #forward(StageBatch, float[])} (the stage's
     * output rows, which go downstream, into {@code hidden}) and {@link #draftGreedy} (segment i's
     * draft into {@code drafts[i]}), the same numbers as those three calls. This default makes them;
     * a device overrides it to keep the rows where they are between the three (CUDA: the token ids
     * go in with the row table in one copy, the output rows and the drafts' ids come back, nothing
     * crosses in between).
     */
    default void embedForwardDraftGreedy(StageBatch batch, java.util.function.LongFunction<int[]> tokensOf, float[] hidden, int[] drafts) {
        embed(batch, tokensOf, hidden);
        forward(batch, hidden);
        draftGreedy(batch, hidden, drafts);
    }

    /** Final norm + LM head for rows 0..rows-1 of {@code hidden}: {@code out} is rows × vocab. */
    void logits(float[] hidden, int rows, float[] out);

    /**
     * Applies this stage's early-exit head to rows 0..rows-1 of {@code hidden} (the output of the
     * stage's last layer for positions [startPos, startPos + rows)) and writes the head's logits for
     * the last row into {@code logits}. A head with a KV cache (transformer) caches every row, so
     * it must see every position the stage computes. Only on a drafting stage.
     */
    void draft(long seq, int startPos, int rows, float[] hidden, float[] logits);

    /** Positions cached for {@code seq} (0 for an unknown sequence). */
    int length(long seq);

    /** Drops cached positions from {@code length} on, in the layers and the exit head (rollback). */
    void truncate(long seq, int length);

    /** Frees everything held for {@code seq}. */
    void release(long seq);

    @Override
    void close();
}
