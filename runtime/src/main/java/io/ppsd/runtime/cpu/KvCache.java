package io.ppsd.runtime.cpu;

import io.ppsd.runtime.stage.KvBudget;
import io.ppsd.runtime.stage.SequenceKv;

/**
 * Keys and values of one sequence for the layers of one stage, on the Java heap, paged: each
 * layer's keys (and values) are a table of blocks of {@link KvBudget#BLOCK_POSITIONS} positions,
 * a block holding those positions' rows of all KV heads ({@code kvDim} floats each). The cache
 * grows by whole blocks as positions are appended (no copying, nothing held past the last block
 * in use, as in vLLM's PagedAttention) and a truncation (rollback) hands back the blocks past the
 * new length. The stage's {@link KvBlocks} lends the blocks and counts them, so a leak shows.
 */
public final class KvCache extends SequenceKv {
    static final int BLOCK = KvBudget.BLOCK_POSITIONS;
    private static final int SHIFT = Integer.numberOfTrailingZeros(BLOCK);

    private final int kvDim;
    private final KvBlocks pool;
    private final float[][][] keys; // [layer][block][position in block * kvDim]
    private final float[][][] values;
    private int blocks;

    public KvCache(int layers, int kvDim, int maxPositions) {
        this(layers, kvDim, maxPositions, new KvBlocks());
    }

    KvCache(int layers, int kvDim, int maxPositions, KvBlocks pool) {
        super(maxPositions, Math.min(BLOCK, maxPositions));
        this.kvDim = kvDim;
        this.pool = pool;
        int tables = Math.min(blocksFor(maxPositions), 4); // the block tables grow as blocks are added
        this.keys = new float[layers][tables][];
        this.values = new float[layers][tables][];
        setBlocks(1, false);
    }

    @Override
    protected int grownCapacity(int positions) {
        return (int) Math.min(maxPositions(), (long) blocksFor(positions) * BLOCK);
    }

    @Override
    protected void grow(int newCapacity) {
        setBlocks(blocksFor(newCapacity), false);
    }

    @Override
    protected int truncated(int newLength) {
        setBlocks(Math.max(1, blocksFor(newLength)), true);
        return (int) Math.min(maxPositions(), (long) blocks * BLOCK);
    }

    @Override
    public void close() {
        setBlocks(0, false);
    }

    private static int blocksFor(int positions) {
        return (int) ((positions + (long) BLOCK - 1) >> SHIFT);
    }

    /** Takes or hands back blocks (in every layer, keys and values) so that {@code n} are held; {@code rollback}: they will be needed again soon. */
    private void setBlocks(int n, boolean rollback) {
        for (int l = 0; l < keys.length; l++) {
            if (keys[l].length < n) {
                int tableSize = (int) Math.max(n, Math.min(2L * keys[l].length, blocksFor(maxPositions())));
                keys[l] = java.util.Arrays.copyOf(keys[l], tableSize);
                values[l] = java.util.Arrays.copyOf(values[l], tableSize);
            }
            for (int b = blocks; b < n; b++) {
                keys[l][b] = pool.take(BLOCK * kvDim);
                values[l][b] = pool.take(BLOCK * kvDim);
            }
            for (int b = n; b < blocks; b++) {
                pool.give(keys[l][b], rollback);
                pool.give(values[l][b], rollback);
                keys[l][b] = values[l][b] = null;
            }
        }
        blocks = n;
    }

    /** The block holding position {@code pos}'s keys in {@code layer}; its row starts at {@link #offset}. */
    float[] keyBlock(int layer, int pos) {
        return keys[layer][pos >> SHIFT];
    }

    float[] valueBlock(int layer, int pos) {
        return values[layer][pos >> SHIFT];
    }

    /** Where position {@code pos}'s row starts in its block. */
    int offset(int pos) {
        return (pos & (BLOCK - 1)) * kvDim;
    }

    /** Blocks held: per layer, one of keys and one of values for each {@value #BLOCK} positions. */
    public int blocks() {
        return 2 * keys.length * blocks;
    }

    int kvDim() {
        return kvDim;
    }
}
